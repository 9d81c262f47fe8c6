"""The one exception type for "the user's input or the environment said no"."""


class UserError(Exception):
    """A problem the user can fix; the CLI prints `host_tools: <message>` and exits 2.

    The message says what went wrong and what to do about it.
    """
