"""User-facing text states a claim and its source in words: never a document the reader does not have."""
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: "seed 000", "the seeds'", "field notes", "../shared/": internal names of the documents the project grew from.
#: A random seed in code (SEED, seed=0, "seed 0 for the split") is not one of them.
INTERNAL = re.compile(r"(?i)field[ _]notes?|\.\./shared|\bseeds?\b(?!\s*[=:(),\]])")
CODE_SEED = re.compile(r"\b(SYNTH_)?SEED\b|seed=|\.seed\b|_seed\b|seed_|random seed|\"seed\"|'seed'")


def _hits(text: str, where: str) -> list[str]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        for m in INTERNAL.finditer(CODE_SEED.sub("", line)):
            out.append(f"{where}:{n}: ...{line[max(0, m.start() - 40):m.end() + 40].strip()}...")
    return out


def user_texts():
    yield "README.md", (ROOT / "README.md").read_text()
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for i, c in enumerate(json.loads(nb.read_text())["cells"]):
            yield f"{nb.name}[{i}]", "".join(c["source"])
    for md in sorted((ROOT / "notebooks").glob("*.md")):
        yield md.name, md.read_text()
    # conclusions, expectations, the bundle's README and every message a user reads come from these modules
    for py in ("deploy/bundles.py", "experiments/peers.py", "experiments/builds.py", "notebook/captions.py",
               "notebook/try_this.py", "notebook/report.py"):
        yield f"helpers/{py}", (ROOT / "helpers" / py).read_text()
    for py in sorted((ROOT / "helpers" / "stages").glob("*.py")):  # conclusions and checks
        yield f"helpers/stages/{py.name}", py.read_text()
    for py in sorted((ROOT / "helpers" / "board").rglob("*.py")):
        yield str(py.relative_to(ROOT)), py.read_text()


def test_no_user_text_names_internal_documents():
    hits = [h for where, text in user_texts() for h in _hits(text, where)]
    assert not hits, "name the claim and its source in words instead:\n" + "\n".join(hits)


def test_the_check_catches_what_it_should():
    assert _hits("as seed 004 measured", "x") and _hits("the field notes say", "x") and _hits("the seeds' 2.1", "x")
    assert not _hits("SYNTH_SEED: int = 0  # seed=0, random seed", "x")
