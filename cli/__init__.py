"""osidump's command line: flags, environment and option files in; exit codes out."""
