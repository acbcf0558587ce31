"""Tiny MovieLens-shaped archives and folders for the data tests.

Everything here is built in a temporary folder by the tests themselves; no
real MovieLens file is ever copied into the repository.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from course_lib.data import Variant

LATEST_RATINGS = (
    "userId,movieId,rating,timestamp\n"
    "2,1,3.5,1000\n"
    "1,2,4.0,2000\n"
    "1,1,5.0,1000\n"
    "1,3,0.5,1000\n"
    "3,3,2.0,50\n"
)

LATEST_MOVIES = (
    "movieId,title,genres\n"
    "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
    '2,"American President, The (1995)",Comedy|Drama|Romance\n'
    "3,Death Note: Desu nôto (2006–2007),(no genres listed)\n"
    "4,From Dusk Till Dawn 2: Texas Blood Money (1999) ,Comedy|Crime|Horror\n"
    "5,Babylon 5,Sci-Fi\n"
)

README = "Tiny test archive shaped like ml-latest-small. Usage License: see GroupLens.\n"


def make_zip(path: Path, members: dict[str, bytes | str]) -> Path:
    """Write a zip holding ``members`` (name -> content) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members.items():
            # ZipInfo keeps names verbatim; zf.writestr(str) would too, but be explicit.
            zf.writestr(zipfile.ZipInfo(name), content)
    return path


def latest_members(name: str = "ml-latest-small", ratings: str = LATEST_RATINGS, movies: str = LATEST_MOVIES):
    """Members of a tiny ml-latest-shaped archive."""
    return {
        f"{name}/ratings.csv": ratings,
        f"{name}/movies.csv": movies,
        f"{name}/README.txt": README,
    }


def make_latest_zip(folder: Path, name: str = "ml-latest-small", **kw) -> Path:
    """Write ``<folder>/<name>.zip`` shaped like ml-latest-small."""
    return make_zip(folder / f"{name}.zip", latest_members(name, **kw))


def variant_for(zip_path: Path, name: str = "ml-latest-small", fmt: str = "csv", **override) -> Variant:
    """A registry entry whose size and sha256 match ``zip_path``."""
    data = zip_path.read_bytes()
    fields = dict(
        name=name,
        url=f"https://files.grouplens.org/datasets/movielens/{name}.zip",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        folder=name,
        fmt=fmt,
    )
    fields.update(override)
    return Variant(**fields)


def ml100k_members() -> dict[str, bytes]:
    """A tiny ml-100k: tab-separated u.data, pipe-separated latin-1 u.item."""
    u_data = "2\t1\t3\t881250949\n1\t2\t5\t874965758\n1\t1\t4\t874965706\n"

    def item(mid: int, title: str, flags: list[str]) -> str:
        bits = ["1" if g in flags else "0" for g in ML100K_GENRES]
        return "|".join([str(mid), title, "01-Jan-1995", "", "http://example.invalid/"] + bits)

    lines = [
        item(1, "Toy Story (1995)", ["Animation", "Children's", "Comedy"]),
        item(2, "Café Society (1995)", ["Drama"]),
        "267|unknown||||" + "|".join(["1"] + ["0"] * 18),
    ]
    return {
        "ml-100k/u.data": u_data.encode(),
        "ml-100k/u.item": ("\n".join(lines) + "\n").encode("latin-1"),
        "ml-100k/README": b"tiny ml-100k\n",
    }


ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip


def make_ml1m_folder(folder: Path) -> Path:
    """A tiny extracted ml-1m: '::'-separated ratings.dat and latin-1 movies.dat."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.dat").write_text("1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n")
    (folder / "movies.dat").write_bytes(
        (
            "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
            "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
            "3000::Café au lait (1993)::Comedy\n"
        ).encode("latin-1")
    )
    return folder


def fetch_in_child(variant, data_dir, mirror, barrier, queue) -> None:
    """Run ``fetch`` in a spawned process; report the path and how many copies it made."""
    import course_lib.data as d

    copies = []
    original = d._obtain

    def counting(*args, **kwargs):
        copies.append(1)
        return original(*args, **kwargs)

    d._obtain = counting
    try:
        barrier.wait(timeout=60)  # start both fetches at the same moment
        path = d.fetch(variant, data_dir=data_dir, mirror=mirror, progress=False)
        queue.put(("ok", str(path), len(copies)))
    except BaseException as exc:  # report, don't hang the parent
        queue.put(("error", repr(exc), len(copies)))


def assert_clean(cache: Path, name: str = "ml-latest-small") -> None:
    """Nothing partial, temporary or corrupt is left for ``name``."""
    if not cache.exists():
        return
    left = sorted(p.name for p in cache.iterdir() if p.name != f"{name}.lock" and not p.name.startswith(".write-test"))
    assert left == [], f"cache not clean: {left}"
    assert not list(cache.glob(".write-test*"))


def assert_good_cache(cache: Path, v: Variant) -> None:
    """Exactly one verified zip and one complete extraction, no temp files."""
    names = sorted(p.name for p in cache.iterdir() if p.name != f"{v.name}.lock")
    assert names == [v.name, f"{v.name}.zip"]
    assert hashlib.sha256((cache / f"{v.name}.zip").read_bytes()).hexdigest() == v.sha256
    assert (cache / v.name / ".verified").is_file()
    assert (cache / v.name / "ratings.csv").is_file()
