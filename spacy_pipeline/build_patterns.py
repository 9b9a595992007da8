"""Write the entity_ruler patterns from the Rasa NLU lookups and synonyms.

data/nlu/entities.yml is the single list of drug and substance names: each
lookup names an entity label and its canonical values, each synonym lists the
other spellings of one canonical value. Generating the patterns from it keeps
what spaCy recognises and what Rasa normalises from drifting apart.
"""

import json
import sys
from pathlib import Path
from typing import Dict, Iterator, List

import yaml


def _lines(block: str) -> List[str]:
    return [line.strip()[2:].strip() for line in block.splitlines() if line.strip().startswith("- ")]


def patterns(entities_file: Path) -> Iterator[Dict[str, str]]:
    """Yield one phrase pattern per spelling, labelled with its lookup name."""
    nlu = yaml.safe_load(entities_file.read_text(encoding="utf-8"))["nlu"]
    synonyms = {item["synonym"]: _lines(item["examples"]) for item in nlu if "synonym" in item}
    for item in nlu:
        if "lookup" not in item:
            continue
        for canonical in _lines(item["examples"]):
            for spelling in [canonical, *synonyms.get(canonical, [])]:
                yield {"label": item["lookup"], "pattern": spelling, "id": canonical}


def main(entities_file: str, out_file: str) -> None:
    out = Path(out_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for pattern in patterns(Path(entities_file)):
            handle.write(json.dumps(pattern) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
