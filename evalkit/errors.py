"""The one exception type that the CLI turns into a one-line message and a non-zero exit code."""


class EvalkitError(Exception):
    """A user-facing error: bad input, a refused resume, a missing checkpoint.

    The message must name the file, line, problem id or option at fault and say what to do. The CLI
    prints it on one line (no traceback unless ``--debug``) and exits with code 2.
    """


def json_error_detail(exc: ValueError) -> str:
    """Where and why a line is not valid JSON, as a whole phrase: ``Invalid control character at column 12``
    (``json.JSONDecodeError.msg`` alone may end in "at")."""
    msg = str(getattr(exc, "msg", exc)).rstrip()
    colno = getattr(exc, "colno", None)
    if colno is None:
        return msg
    return f"{msg} column {colno}" if msg.endswith(" at") else f"{msg} at column {colno}"
