"""Essay intake: reading files in any common format, validating them, matching them to students,
and importing rosters and anchors, with one recorded outcome per file or row."""
