"""tests/test_python.py: the Python module (python/shrink.py) over libshrink.so.

Run by tests/api_install.sh as `SHRINK_LIB=build/libshrink.so PYTHONPATH=python python3 tests/test_python.py`
from the repository root. Checks what the module adds over the C API: types, buffer sizes,
errors as exceptions, numpy or lists, the progress callback; and that its numbers are the
C API's (perplexity from its own logits, greedy generation against the argmax chain).
"""
import math
import os
import sys
import tempfile

import shrink

passed = failed = 0


def expect(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what, file=sys.stderr)


def rows(lg):
    return [list(r) for r in lg]


def main():
    m = shrink.Model("models/mini")
    expect(m.info.n_vocab == 8192 and m.info.n_layer == 6 and m.info.n_ctx == 256, "info %r" % (m.info,))
    text = "Hello world, caf\u00e9 \u20ac 12345!"
    ids = m.tokenize(text)
    expect(all(isinstance(i, int) for i in ids) and 5 < len(ids) < 40, "tokenize gives %r" % ids)
    expect(m.detokenize(ids) == text, "round trip")
    expect(m.tokenize("") == [], "empty text")

    held = open("data/heldout.txt", encoding="utf-8").read()[:4000]
    hid = m.tokenize(held)[:120]
    lg = rows(m.logits(hid))
    expect(len(lg) == 120 and len(lg[0]) == 8192, "logits shape")
    nll = 0.0
    for p in range(1, 120):
        row = lg[p - 1]
        mx = max(row)
        nll += math.log(sum(math.exp(x - mx) for x in row)) + mx - row[hid[p]]
    nll /= 119
    pp = m.perplexity(m.detokenize(hid), ctx=120, stride=120)
    expect(pp.tokens == 119 and abs(pp.nll / nll - 1) < 1e-5, "perplexity nll %r vs %r from logits" % (pp.nll, nll))

    prompt_ids = hid[:16]
    prompt = m.detokenize(prompt_ids)
    got = m.generate(prompt, n_new=6, temperature=0, stop_at_eos=False)
    chain = list(prompt_ids)
    for _ in range(6):
        row = rows(m.logits(chain))[-1]
        chain.append(max(range(len(row)), key=row.__getitem__))
    expect(got == m.detokenize(chain[16:]), "greedy %r vs the argmax chain %r" % (got, m.detokenize(chain[16:])))
    long_text = m.generate(prompt, n_new=200, seed=3)
    expect(long_text == m.generate(prompt, n_new=200, seed=3) and len(long_text) > 0, "the same seed, the same text")

    try:
        shrink.Model("no/such/model")
        expect(False, "a missing model loaded")
    except shrink.ShrinkError as e:
        expect(e.code == -1 and "no/such/model" in e.message, "missing model: %d %s" % (e.code, e.message))
    try:
        m.logits([1, 8192])
        expect(False, "id 8192 accepted")
    except shrink.ShrinkError as e:
        expect(e.code == -5 and "8192" in e.message, "id 8192: %s" % e.message)
    try:
        m.generate("Hi", top_p=2)
        expect(False, "top_p 2 accepted")
    except shrink.ShrinkError as e:
        expect("top_p" in e.message, "top_p: %s" % e.message)

    calls = []
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "q.gguf")
        logged = []
        r = shrink.compress("models/mini", out, type="Q8_0", method="imatrix", calib="data/calib.txt", calib_tokens=2048,
                            progress=lambda *a: calls.append(a), log=logged.append)
        expect(len(calls) >= 1 and all(len(c) == 5 and isinstance(c[0], str) for c in calls), "progress calls %r" % calls[:2])
        expect(r.bytes == os.path.getsize(out) and r.params_before == r.params_after == m.info.n_params and
               r.n_matrices == 26, "result %r" % (r,))
        expect(("wrote %s: %d bytes" % (out, r.bytes)) in "".join(logged), "log: %r" % logged[-2:])
        f32 = os.path.join(tmp, "f32.gguf")
        steps = []
        shrink.export("models/mini", f32, type="f32", progress=lambda *a: steps.append(a))
        expect(any(s[0] == "write: MB" for s in steps) and steps[-1][1] == steps[-1][2], "export progress %r" % steps[-2:])
        with shrink.Model(f32) as x:
            same = [list(map(float, row)) for row in x.logits([1, 2, 3])] == [list(map(float, row)) for row in m.logits([1, 2, 3])]
            expect(same, "the F32 export's logits differ from the model's")
        with shrink.Model(out) as q:
            a = q.agreement(m, held)
            expect(0 < a.kl_mean < 0.01 and a.top1 > 0.95, "Q8_0 agreement %r" % (a,))
        try:
            shrink.compress("models/mini", os.path.join(tmp, "x.gguf"), method="bogus")
            expect(False, "method bogus accepted")
        except shrink.ShrinkError as e:
            expect("bogus" in e.message and not os.path.exists(os.path.join(tmp, "x.gguf")), "bogus: %s" % e.message)
        try:  # the field lands where the library reads it
            shrink.compress("models/mini", os.path.join(tmp, "x.gguf"), target_bpw=4, bpw_probes=9)
            expect(False, "bpw_probes 9 accepted")
        except shrink.ShrinkError as e:
            expect("--bpw-probes 9" in e.message, "bpw_probes 9: %s" % e.message)
    m.close()
    print("tests/test_python.py: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
