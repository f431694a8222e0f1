"""Moving bellwire's data: the export format, export, import (from a file or a live endpoint)
and online backup. See docs/operations-data.md."""
