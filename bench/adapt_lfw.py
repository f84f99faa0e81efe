"""`facerec adapt` on a realistic gallery: LFW people of View 2 fold 10 with >= MIN images, embedded by an
installed pack through the pipeline's chips (cached by bench/train_compact.py's chip cache), then the same
cross-validation `facerec adapt` runs. Prints JSON; writes nothing into any gallery.

    python bench/adapt_lfw.py --cache ~/.cache/facerec-train --people 20 --per-person 5
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> None:
    from facerec.config import shared_data_dir
    from facerec.embedders import load_embedder
    from facerec.training.adapt import AdaptConfig, adapt_gallery
    from facerec.training.data import cached_chips, scan_identities
    from facerec.training.splits import lfw_split

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lfw", default=str(shared_data_dir() / "lfw"))
    p.add_argument("--cache", default=str(Path.home() / ".cache" / "facerec-train"))
    p.add_argument("--model", default="sface")
    p.add_argument("--people", type=int, default=20, help="gallery size (people with the most images first)")
    p.add_argument("--per-person", type=int, default=5, help="samples per person")
    args = p.parse_args(argv)
    root = Path(args.lfw)
    ids = scan_identities(root)
    split = lfw_split(ids, root / "pairs.txt", val_fold=10)
    chips = cached_chips({n: ids[n] for n in split.val}, Path(args.cache))
    counts = chips.counts()
    people = [i for i in np.argsort(-counts, kind="stable") if counts[i] >= args.per_person][: args.people]
    idx = np.concatenate([np.flatnonzero(chips.labels == i)[: args.per_person] for i in people])
    embedder = load_embedder(args.model)
    emb = embedder.embed(np.asarray(chips.chips[idx]))
    with tempfile.TemporaryDirectory() as tmp:
        report = adapt_gallery(emb, chips.labels[idx], embedder.model_id, embedder.default_threshold, Path(tmp) / "g.db", AdaptConfig())
    out = {"model": args.model, "people": len(people), "per_person": args.per_person, **report.to_dict()}
    out.pop("path", None)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
