"""The one exception type that the CLI turns into a one-line message and a non-zero exit code."""


class EvalkitError(Exception):
    """A user-facing error: bad input, a refused resume, a missing checkpoint.

    The message must name the file, line, problem id or option at fault and say what to do. The CLI
    prints it on one line (no traceback unless ``--debug``) and exits with code 2.
    """
