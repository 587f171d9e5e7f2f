"""Listing an image folder's files: every folder entered once and every file on disk (device and inode)
listed once, at its first path in sorted order. ``os.walk(followlinks=True)`` would list the images
behind a link loop dozens of times, on both sides of a train/test split."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".npy")  # .npy: bands


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


@dataclass
class Listing:
    """One dataset's walk: the folders entered so far (by device and inode: the root and every
    class folder count as entered before any walk, so a link into another class is not
    followed) and what was left out."""

    root: Path
    entered: set = field(default_factory=set)
    duplicates: list[str] = field(default_factory=list)  # paths of files already listed under another path
    loops: list[str] = field(default_factory=list)  # links back to a folder above them
    repeated_folders: list[str] = field(default_factory=list)  # a second way into a folder already walked

    def __post_init__(self):
        self.top = _identity(str(self.root))

    def claim(self, folders: list[Path]) -> None:
        """Mark (class) folders as owned by themselves: a link to one from elsewhere is not walked."""
        self.entered |= {i for i in map(_identity, map(str, folders)) if i is not None}

    def message(self) -> str | None:
        """One line for what was left out, or None."""
        if not (self.duplicates or self.loops or self.repeated_folders):
            return None
        parts = [f"left out {len(self.duplicates)} second path(s) to files already listed"] if self.duplicates else []
        if self.loops:
            parts.append(f"did not follow {len(self.loops)} symlink loop(s) ({', '.join(self.loops[:3])}"
                         f"{' ...' if len(self.loops) > 3 else ''})")
        if self.repeated_folders:
            parts.append(f"did not enter {len(self.repeated_folders)} link(s) to folders listed elsewhere "
                         f"({', '.join(self.repeated_folders[:3])}{' ...' if len(self.repeated_folders) > 3 else ''})")
        return f"image folder {self.root}: " + "; ".join(parts) + "; every file is listed once"


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)  # follows links: the file or folder itself
    except OSError:
        return None  # a dangling link: listed, and reported unreadable when decoded
    return st.st_dev, st.st_ino


def image_files(folder: Path, listing: Listing) -> list[str]:
    """The image files under ``folder`` (links followed, each folder entered once), in the
    order ``torchvision``'s ``make_dataset`` gives them (sorted folder paths, sorted names).
    The same file may still appear under two names (a file link, a hard link): ``unique``."""
    found: list[tuple[str, list[str]]] = []
    start = _identity(str(folder))

    def walk(path: str, ancestors: frozenset) -> None:
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError:
            return
        names = []
        for entry in entries:
            try:
                is_dir = entry.is_dir()  # follows links
            except OSError:
                continue
            if is_dir:
                ident = _identity(entry.path)
                if ident is None:
                    continue
                if ident in ancestors:
                    listing.loops.append(f"{entry.path} -> {os.path.realpath(entry.path)}")
                elif ident in listing.entered:
                    listing.repeated_folders.append(entry.path)
                else:
                    listing.entered.add(ident)
                    walk(entry.path, ancestors | {ident})
            elif is_image_name(entry.name):
                names.append(entry.name)
        found.append((path, names))

    walk(str(folder), frozenset(i for i in (listing.top, start) if i is not None))
    return [os.path.join(path, name) for path, names in sorted(found) for name in names]


def _through_link(path: str, root: Path) -> bool:
    """Whether a symbolic link below ``root`` leads to ``path``."""
    rel = Path(path).relative_to(root)
    return any((root / Path(*rel.parts[:i + 1])).is_symlink() for i in range(len(rel.parts)))


def unique(groups: list[list[str]], listing: Listing) -> list[list[str]]:
    """``groups`` of paths (class by class, split by split) with each file on disk kept once:
    at a path that goes through no link if it has one, else at its first path."""
    paths: dict = {}
    for group in groups:
        for path in group:
            paths.setdefault(_identity(path) or ("missing", path), []).append(path)
    keep = set()
    for candidates in paths.values():
        if len(candidates) > 1:
            direct = [p for p in candidates if not _through_link(p, listing.root)]
            winner = (direct or candidates)[0]
            listing.duplicates += [p for p in candidates if p != winner]
        else:
            winner = candidates[0]
        keep.add(winner)
    return [[p for p in group if p in keep] for group in groups]


def loose_images(folder: Path) -> list[str]:
    """The image files directly in ``folder`` (not in a subfolder), sorted."""
    return [e.path for e in sorted(os.scandir(folder), key=lambda e: e.name)
            if is_image_name(e.name) and not e.is_dir()]


def class_folders(root: Path) -> list[str]:
    """The subfolders of ``root`` (links followed, hidden ones left out), sorted: the classes."""
    return sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
