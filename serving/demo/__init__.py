"""The fictional, bilingual demo clinic, loaded only when asked (`dental demo load`,
`dental serve --demo`, `LOAD_DEMO_DATA=true`) and never into a production database."""

from serving.demo.loader import DemoRefused, demo_clinic_data, load_demo_clinic

__all__ = ["DemoRefused", "demo_clinic_data", "load_demo_clinic"]
