"""Alert routing: rule route names to destinations, and silent delivery for low severity."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping

from bot.domain import Hit, Severity, StoredHit

logger = logging.getLogger(__name__)


class AlertRouter:
    """Maps a hit's route name to a destination string, falling back to a default route."""

    def __init__(
        self,
        routes: Mapping[str, str],
        default_route: str = "default",
        silent_severities: Collection[Severity] = (Severity.LOW,),
    ) -> None:
        """routes: route name -> destination (e.g. 'console', 'telegram:-100123')."""
        if default_route not in routes:
            raise ValueError(
                f"default route {default_route!r} is not among routes {sorted(routes)}"
            )
        self._routes = dict(routes)
        self._default = default_route
        self._silent = frozenset(Severity(s) for s in silent_severities)
        # Warn once per unknown name: a mistyped route in a rule would otherwise
        # log on every single post it matches.
        self._warned: set[str] = set()

    @property
    def default_route(self) -> str:
        """Name of the fallback route."""
        return self._default

    @property
    def routes(self) -> dict[str, str]:
        """A copy of the route table."""
        return dict(self._routes)

    def route_for(self, route: str) -> str:
        """The known route name to use for a rule's route (the default if unknown)."""
        if route in self._routes:
            return route
        if route not in self._warned:
            self._warned.add(route)
            logger.warning("unknown alert route %r; using default route %r", route, self._default)
        return self._default

    def destination(self, route: str) -> str:
        """Destination string for a route name (unknown names go to the default)."""
        return self._routes[self.route_for(route)]

    def silent(self, hit: Hit | StoredHit) -> bool:
        """Whether the hit's alert should be delivered without a notification sound."""
        return Severity(hit.severity) in self._silent
