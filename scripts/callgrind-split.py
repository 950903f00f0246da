#!/usr/bin/env python3
"""Splits a callgrind profile of the server (`scripts/profile-viewers.sh`)
into who spent the instructions: str0m (entered from this project's code),
the SRTP ciphers str0m calls (aws-lc), and this project with its runtime.

Usage: callgrind-split.py CALLGRIND_OUT PEERS SECONDS (PEERS: the viewers,
or both peers of every call)

Instruction counts (Ir) are user space only: the kernel's send and receive
paths are not in them. They repeat for the same binary, load and window
whatever else the machine runs, which wall-clock CPU shares on a shared VM
do not. A call from this project into str0m counts with everything str0m
does under it; str0m code inlined into ours (its `write_rtp`, say) counts as
ours. Packets sent are the calls to str0m's `SrtpContext::protect_rtp`.
"""
import re
import sys
from collections import defaultdict


def group(name):
    """The party a function belongs to, by its demangled name."""
    if "aws_lc" in name or name.startswith(("_aesni", "aesni", "aead_aes", "gcm_")):
        return "crypto"
    if re.match(r"<?(str0m|dimpl|is|sctp_proto)::", name):
        return "str0m"
    if re.match(r"<?(kms_|kurento_media_server)", name):
        return "ours"
    return "other"


def parse(path):
    """(self cost by function, inclusive cost by (caller, callee), calls by callee)."""
    names = {}
    self_cost = defaultdict(int)
    edges = defaultdict(int)
    calls = defaultdict(int)
    fn = cfn = None
    pending_call = False
    name_re = re.compile(r"\((\d+)\)(?: (.*))?")

    def resolve(text):
        m = name_re.match(text)
        if not m:
            return text
        if m.group(2) is not None:
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), text)

    with open(path) as f:
        for line in f:
            if line.startswith("fn="):
                fn = resolve(line[3:].strip())
            elif line.startswith("cfn="):
                cfn = resolve(line[4:].strip())
            elif line.startswith("calls="):
                calls[cfn] += int(line[6:].split()[0])
                pending_call = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                parts = line.split()
                if len(parts) < 2 or fn is None:
                    continue
                cost = int(parts[1])
                if pending_call:
                    edges[(fn, cfn)] += cost
                    pending_call = False
                else:
                    self_cost[fn] += cost
    return self_cost, edges, calls


def main():
    path, peers, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    self_cost, edges, calls = parse(path)
    total = sum(self_cost.values())
    if total == 0:
        sys.exit("no instructions in the profile: was the window empty?")
    into_str0m = sum(c for (a, b), c in edges.items() if group(a) != "str0m" and group(a) != "crypto" and group(b) == "str0m")
    ciphers = sum(c for (a, b), c in edges.items() if group(a) == "str0m" and group(b) == "crypto")
    packets = sum(n for name, n in calls.items() if name.endswith("SrtpContext::protect_rtp"))
    rest = total - into_str0m

    def share(x):
        return f"{x:>14,} ({100 * x / total:5.1f} %)"

    print(f"instructions in {seconds:g} s: {total:,}; per peer-second: {total / peers / seconds:,.0f}")
    if packets:
        print(f"RTP packets protected (sent): {packets:,}; instructions per sent packet: {total / packets:,.0f}")
    print(f"str0m, entered from this project    {share(into_str0m)}")
    print(f"  of it, SRTP AES-GCM (aws-lc)      {share(ciphers)}")
    print(f"this project, its runtime and libc  {share(rest)}")
    print("top functions by own instructions:")
    for name, cost in sorted(self_cost.items(), key=lambda kv: -kv[1])[:15]:
        print(f"  {share(cost)}  [{group(name)}] {name[:110]}")


if __name__ == "__main__":
    main()
