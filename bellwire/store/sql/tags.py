"""Tags on app instances, users and channels."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bellwire.store.sql.common import SqlBase


class TagsSql(SqlBase):
    __slots__ = ()

    # --- tags -------------------------------------------------------------------------------

    def tags(self, arn: str) -> dict[str, str]:
        rows = self._all(
            "SELECT tag_key, tag_value FROM tags WHERE resource_arn = ? ORDER BY tag_key", (arn,)
        )
        return {k: v for k, v in rows}

    def put_tags(self, arn: str, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            self._run(
                "INSERT INTO tags (resource_arn, tag_key, tag_value) VALUES (?, ?, ?) "
                "ON CONFLICT (resource_arn, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
                (arn, key, value),
            )

    def delete_tags(self, arn: str, keys: Iterable[str]) -> None:
        for key in keys:
            self._run("DELETE FROM tags WHERE resource_arn = ? AND tag_key = ?", (arn, key))
