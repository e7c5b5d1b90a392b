"""The clinic's own Odoo as the practice system: odoorpc over JSON-RPC (docs/ODOO.md)."""
