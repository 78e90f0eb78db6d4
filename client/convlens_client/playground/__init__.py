"""``convlens playground``: a local web page to try every endpoint, forwarding its calls with the client's token.

The page (``static/``: plain HTML, CSS and JavaScript, no build step, nothing from the network) builds each
endpoint's form from the server's ``describe()``; :mod:`.server` serves it on loopback and forwards its calls
through a :class:`~convlens_client.Client`, so the browser never sees the token or the key file; :mod:`.forward`
turns the page's requests into client calls and the answers (pictures, numbers, progress, errors) into what the
page reads; :mod:`.samples` lists the sample photos offered with one click.
"""

from .server import Playground, check_bind

__all__ = ["Playground", "check_bind"]
