"""The web pages arrears serves itself (issue 15): one layout, one sign-in, one API client.

They live in `shared` because two apps serve them and services never import each other:
the one-origin gateway of `make run` (`services/gateway.py`) and the audit service alone
(`arrears serve audit`). The pages hold no business rule and no data: they are static
files that read everything through the services' public APIs with the caller's token,
so a page is only as powerful as the token pasted into it.
"""
