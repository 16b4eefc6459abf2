"""Record kinds: what each kind's ``fields`` hold, and the one number and units formatter."""
