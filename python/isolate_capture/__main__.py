"""`python -m isolate_capture hook [--install|--uninstall]` and `python -m isolate_capture ls DIR`."""
from __future__ import annotations

import argparse
import json
import os
import sys
import sysconfig

HOOK_LINE = 'import os; os.environ.get("ISOLATE_CAPTURE") and __import__("isolate_capture")\n'
PTH = "isolate_capture_autoload.pth"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="isolate-capture")
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hook", help="the one-line .pth / sitecustomize hook that activates ISOLATE_CAPTURE at start-up")
    g = h.add_mutually_exclusive_group()
    g.add_argument("--install", action="store_true", help=f"write {PTH} into this interpreter's site-packages")
    g.add_argument("--uninstall", action="store_true")
    ls = sub.add_parser("ls", help="sites, calls, roles and scale meaning of a capture directory (from its manifest)")
    ls.add_argument("dir")
    ls.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if a.cmd == "hook":
        path = os.path.join(sysconfig.get_paths()["purelib"], PTH)
        if a.install:
            with open(path, "w") as f:
                f.write(HOOK_LINE)
            print(f"wrote {path}: every start of this interpreter with ISOLATE_CAPTURE set imports isolate_capture")
        elif a.uninstall:
            if os.path.exists(path):
                os.remove(path)
            print(f"removed {path}")
        else:
            print(HOOK_LINE, end="")
        return 0
    from ._format import read_manifest

    m = read_manifest(a.dir)
    if a.json:
        json.dump(m, sys.stdout, indent=1)
        print()
        return 0
    for name, s in sorted(m["sites"].items()):
        print(f"{name}  [{s.get('kind')}]  op={s.get('op')}  layer={s.get('layer')}")
        for c in s.get("calls", []):
            roles = " ".join(f"{r}={v['dtype']}{v['shape']}" for r, v in c["roles"].items())
            print(f"  call {c['call']} rank {c['rank'].get('global')}: {roles}  -> {c['file']}")
            for r in ("xs", "ws"):
                sc = c["roles"].get(r, {}).get("scale")
                if sc:
                    print(f"    {r}: {sc.get('granularity')} {sc.get('encoding')} stored {sc.get('stored_layout')}"
                          f" (source {sc.get('source_layout')}), pow2={sc.get('all_pow2')}")
    for st in m.get("stages", []):
        print(f"hidden states: call {st['call']} {st['side']} rank {st['rank'].get('global')}: "
              f"{len(st['stages'])} stages -> {st['file']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
