"""The SpiffWorkflow adapter: no Flask, no database."""
