"""All demo data — people, cases, surveys, evaluations — and `flask demo seed`."""
