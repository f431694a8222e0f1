"""The credential index across nodes: IAM changes applied in the store's version order (pure).

Every IAM/STS write takes the store's next IAM version in its transaction and its
:class:`IamChange` carries it. A node applies its own commits at once (a key created through
node A works on node A when the call returns), and the other nodes' changes, which come over
the bus, in version order: a change that arrives early waits for the ones before it. Whatever
cannot be ordered (a change that never came, a local commit that overtook a remote one) makes
the node re-read the whole IAM state from the store, which is always right; the shell
(``server.py``) does the reading and the timing.
"""

from __future__ import annotations

import enum

from bellwire.iam.credentials import CredentialIndex
from bellwire.records.iam import IamChange, IamSnapshot


class Verdict(enum.Enum):
    APPLIED = "applied"  # applied, or already reflected
    WAITING = "waiting"  # an earlier change is missing: wait a little, then re-read
    RELOAD = "reload"  # the index may be stale: re-read the store


class IamSync:
    def __init__(self, index: CredentialIndex) -> None:
        self.index = index
        self.version = 0  # every change up to this version is reflected
        self._held: dict[int, IamChange] = {}
        # Changes applied while a reload reads the store (None when none is running).
        self._during_reload: list[IamChange] | None = None

    @property
    def waiting(self) -> bool:
        return bool(self._held)

    def committed(self, change: IamChange) -> Verdict:
        """A change this node committed: applied now, before its caller resumes."""
        if change.version <= self.version:
            return Verdict.APPLIED  # a re-read of the store already holds it
        self._apply(change)
        in_order = change.version == self.version + 1
        self.version = change.version
        self._drain()
        return Verdict.APPLIED if in_order and not self._held else Verdict.RELOAD

    def received(self, change: IamChange) -> Verdict:
        """A change from the bus (another node's, or this node's own coming back)."""
        if change.version <= self.version:
            return Verdict.APPLIED
        if change.version != self.version + 1:
            self._held[change.version] = change
            return Verdict.WAITING
        self._apply(change)
        self.version = change.version
        self._drain()
        return Verdict.WAITING if self._held else Verdict.APPLIED

    def behind(self, store_version: int) -> bool:
        return store_version > self.version

    def reloading(self) -> None:
        """A re-read of the store begins: remember what is applied meanwhile."""
        self._during_reload = []

    def loaded(self, snapshot: IamSnapshot) -> Verdict:
        """The store's IAM state as of ``snapshot.version``, then every newer change seen
        meanwhile, in version order; RELOAD again if those leave a hole."""
        newer = {c.version: c for c in (self._during_reload or ()) if c.version > snapshot.version}
        newer.update((v, c) for v, c in self._held.items() if v > snapshot.version)
        self._during_reload = None
        self._held.clear()
        self.index.replace_all(snapshot)
        self.version = snapshot.version
        hole = False
        for version in sorted(newer):
            hole = hole or version != self.version + 1
            self.index.apply(newer[version])
            self.version = version
        return Verdict.RELOAD if hole else Verdict.APPLIED

    def _apply(self, change: IamChange) -> None:
        self.index.apply(change)
        if self._during_reload is not None:
            self._during_reload.append(change)

    def _drain(self) -> None:
        for version in [v for v in self._held if v <= self.version]:
            del self._held[version]
        while (change := self._held.pop(self.version + 1, None)) is not None:
            self._apply(change)
            self.version = change.version
