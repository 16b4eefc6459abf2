"""Records: the validated envelope, record files, and field-level diffs between versions."""
