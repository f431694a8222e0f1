"""IAM changes across nodes: applied in the store's version order; whatever cannot be ordered
makes the node re-read the store."""

from __future__ import annotations

from bellwire.iam.credentials import CredentialIndex
from bellwire.iam.keys import root_principal
from bellwire.iam.principal import Credential
from bellwire.iam.sync import IamSync, Verdict
from bellwire.records.iam import AccessKey, IamChange, IamSnapshot, IamUser, UserState

ACCOUNT = "123456789012"


def index() -> CredentialIndex:
    return CredentialIndex(ACCOUNT, Credential("AKIAROOT", "root", root_principal(ACCOUNT)))


def keys(version: int, *key_ids: str, user: str = "dev") -> IamChange:
    """The user's state after a change: exactly these access keys."""
    u = IamUser(user, f"AIDA{user}", "/", 0.0)
    state = UserState(u, tuple(AccessKey(k, user, "s", "Active", 0.0) for k in key_ids), {})
    return IamChange(users={user: state}, version=version)


def test_remote_changes_apply_in_version_order() -> None:
    sync = IamSync(index())
    assert sync.received(keys(2, "K2")) is Verdict.WAITING  # 1 has not come yet
    assert "K2" not in sync.index
    assert sync.received(keys(1, "K1")) is Verdict.APPLIED
    assert sync.version == 2 and "K2" in sync.index and "K1" not in sync.index
    assert sync.received(keys(1, "K1")) is Verdict.APPLIED  # a duplicate changes nothing
    assert "K1" not in sync.index


def test_a_local_commit_applies_at_once_and_asks_for_a_reload_when_it_overtook_one() -> None:
    sync = IamSync(index())
    assert sync.committed(keys(1, "K1")) is Verdict.APPLIED
    # Version 2 (another node's) is still on its way: the local 3 applies now, the node
    # re-reads so that 2 is not lost.
    assert sync.committed(keys(3, "K3", user="ops")) is Verdict.RELOAD
    assert "K3" in sync.index
    assert sync.received(keys(2, "K2", user="qa")) is Verdict.APPLIED  # older: ignored
    assert "K2" not in sync.index


def test_a_reload_keeps_changes_applied_while_it_read() -> None:
    sync = IamSync(index())
    sync.committed(keys(1, "K1"))
    sync.reloading()
    sync.committed(keys(3, "K3", user="ops"))  # applied while the snapshot was being read
    snapshot = IamSnapshot(users=(keys(2, "K2").users["dev"],), roles=(), sessions=(), version=2)  # type: ignore[arg-type]
    assert sync.loaded(snapshot) is Verdict.APPLIED
    assert sync.version == 3
    assert "K2" in sync.index and "K3" in sync.index and "K1" not in sync.index
    assert "AKIAROOT" in sync.index  # pinned credentials survive


def test_a_reload_that_leaves_a_hole_asks_for_another() -> None:
    sync = IamSync(index())
    sync.reloading()
    sync.received(keys(5, "K5"))  # held: 1-4 missing
    snapshot = IamSnapshot(users=(), roles=(), sessions=(), version=3)
    assert sync.loaded(snapshot) is Verdict.RELOAD  # 4 is still missing
    assert sync.version == 5 and "K5" in sync.index


def test_behind_compares_with_the_stores_version() -> None:
    sync = IamSync(index())
    sync.committed(keys(1, "K1"))
    assert sync.behind(2) and not sync.behind(1)
