"""Download one sdist from PyPI's simple index and check its sha256 (no build, no metadata step)."""
import hashlib
import re
import sys
import urllib.request

name, version, sha256, dest = sys.argv[1:5]
index = f"https://pypi.org/simple/{name}/"
page = urllib.request.urlopen(index, timeout=120).read().decode()
fname = f"{name.replace('-', '_')}-{version}.tar.gz"
links = [l for l in re.findall(r'href="([^"]+)"', page) if fname in l]
if not links:
    sys.exit(f"{fname} not listed at {index}")
url = links[0].split("#")[0]
data = urllib.request.urlopen(url, timeout=600).read()
got = hashlib.sha256(data).hexdigest()
if got != sha256:
    sys.exit(f"sha256 mismatch for {url}: got {got}, want {sha256}")
with open(dest + ".part", "wb") as f:
    f.write(data)
import os
os.replace(dest + ".part", dest)
