"""Merge English catalog fragments (bpm_crm/translations/en/fragments/*.po) into messages.po, then delete them."""
from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "bpm_crm/translations/en/LC_MESSAGES/messages.po"
FRAGMENTS = ROOT / "bpm_crm/translations/en/fragments"


def main() -> int:
    with CATALOG.open("rb") as handle:
        catalog = read_po(handle, locale="en")
    merged = 0
    for fragment in sorted(FRAGMENTS.glob("*.po")):
        with fragment.open("rb") as handle:
            part = read_po(handle, locale="en")
        for message in part:
            if message.id and message.string:
                existing = catalog.get(message.id)
                if existing is None or not existing.string or "fuzzy" in existing.flags:
                    catalog.delete(message.id)
                    catalog.add(message.id, message.string)
                    merged += 1
        fragment.unlink()
    with CATALOG.open("wb") as handle:
        write_po(handle, catalog, width=0, sort_output=True)
    print(f"merged {merged} messages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
