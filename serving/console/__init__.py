"""The staff console's services: what the admin API does beyond parsing and answering."""
