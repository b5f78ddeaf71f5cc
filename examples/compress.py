"""examples/compress.py: compress a model from Python and compare it with the original.

    PYTHONPATH=python python3 examples/compress.py models/mini data/calib.txt data/heldout.txt /tmp/mini-Q4_K_M.gguf
"""
import sys

import shrink


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: compress.py MODEL_DIR CALIB_TEXT EVAL_TEXT OUT.gguf")
    model_dir, calib, eval_text, out = sys.argv[1:]

    def progress(step, done, total, elapsed, eta):
        if done == total:
            print("%s: %d/%d (ETA %.0f s)" % (step, done, total, eta), file=sys.stderr)

    shrink.compress(model_dir, out, type="Q4_K_M", method="gptq", calib=calib, calib_tokens=8192, progress=progress)
    text = open(eval_text, encoding="utf-8").read()
    with shrink.Model(model_dir) as orig, shrink.Model(out) as small:
        a = small.agreement(orig, text)
        print("%s (shrink %s)" % (out, shrink.version))
        print("original   perplexity %.3f" % a.base.ppl)
        print("Q4_K_M     perplexity %.3f (%+.2f%%), KL %.5f, top-1 %.1f%%" % (a.model.ppl, a.dppl_pct, a.kl_mean, 100 * a.top1))
        print(small.generate("The history of the city", n_new=24, seed=1))


if __name__ == "__main__":
    main()
