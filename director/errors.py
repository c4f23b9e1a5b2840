"""The one error class for a problem the user can fix: every front end prints it as one line
(exit status 2 on the command line). The more specific errors (`CheckError`, `ScriptError`, ...)
are `ValueError`s with one-line messages too; `USER_ERRORS` in `director.api` lists them all."""


class UsageError(ValueError):
    """A problem the user can fix; one readable line."""
