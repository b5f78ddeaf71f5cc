"""shrink from Python: ctypes over libshrink.so (include/shrink.h), standard library only.

    import shrink
    m = shrink.Model("models/mini")
    ids = m.tokenize("Hello world")
    print(m.generate("The history of", n_new=32, seed=1))
    print(m.perplexity(open("data/heldout.txt").read()).ppl)
    shrink.compress("models/mini", "mini-Q4_K_M.gguf", type="Q4_K_M", method="gptq", calib="data/calib.txt")

logits() returns a numpy array (n, n_vocab) when numpy is importable, else a list of lists.
The library is found through $SHRINK_LIB, then build/libshrink.so beside this directory, then
the system's (ldconfig). Errors raise ShrinkError(code, message).
"""
import ctypes
import ctypes.util
import os
from collections import namedtuple

try:
    import numpy as _np
except ImportError:  # lists then
    _np = None

API_VERSION = 3


class ShrinkError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class _Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("message", ctypes.c_char * 1024)]


class _Info(ctypes.Structure):
    _fields_ = [("n_vocab", ctypes.c_int), ("n_ctx", ctypes.c_int), ("n_embd", ctypes.c_int), ("n_layer", ctypes.c_int),
                ("n_params", ctypes.c_size_t), ("eos_id", ctypes.c_int)]


class _Sampling(ctypes.Structure):
    _fields_ = [("n_new", ctypes.c_int), ("temperature", ctypes.c_float), ("top_k", ctypes.c_int), ("top_p", ctypes.c_float),
                ("seed", ctypes.c_uint64), ("stop_at_eos", ctypes.c_int), ("truncate", ctypes.c_int),
                ("on_token", ctypes.c_void_p), ("user", ctypes.c_void_p)]


class _Perplexity(ctypes.Structure):
    _fields_ = [("ppl", ctypes.c_double), ("nll", ctypes.c_double), ("bpb", ctypes.c_double), ("tokens", ctypes.c_long),
                ("text_tokens", ctypes.c_long), ("bytes", ctypes.c_double), ("ctx", ctypes.c_int), ("stride", ctypes.c_int),
                ("windows", ctypes.c_int)]


class _Lambada(ctypes.Structure):
    _fields_ = [("acc", ctypes.c_double), ("ppl", ctypes.c_double), ("nll", ctypes.c_double), ("n", ctypes.c_int),
                ("correct", ctypes.c_int)]


class _Agreement(ctypes.Structure):
    _fields_ = [("model", _Perplexity), ("base", _Perplexity), ("dppl_pct", ctypes.c_double), ("kl_mean", ctypes.c_double),
                ("kl_p99", ctypes.c_double), ("kl_max", ctypes.c_double), ("top1", ctypes.c_double)]


_PROGRESS = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_double, ctypes.c_double, ctypes.c_void_p)
_LOG = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_void_p)


class _CompressOpts(ctypes.Structure):
    _fields_ = [("type", ctypes.c_char_p), ("target_bpw", ctypes.c_char_p), ("bpw_probes", ctypes.c_int), ("method", ctypes.c_char_p),
                ("calib_path", ctypes.c_char_p), ("calib_tokens", ctypes.c_long), ("tensor_types", ctypes.c_char_p),
                ("damp", ctypes.c_double), ("act_order", ctypes.c_int), ("verbose", ctypes.c_int), ("no_tokenizer", ctypes.c_int),
                ("prune", ctypes.c_char_p), ("lowrank", ctypes.c_char_p), ("ffn_multiple", ctypes.c_int),
                ("recover", ctypes.c_char_p), ("recover_tokens", ctypes.c_ulonglong), ("recover_lr", ctypes.c_double),
                ("recover_val_frac", ctypes.c_double), ("progress", _PROGRESS), ("log", _LOG), ("user", ctypes.c_void_p)]


class _CompressResult(ctypes.Structure):
    _fields_ = [("params_before", ctypes.c_size_t), ("params_after", ctypes.c_size_t), ("n_matrices", ctypes.c_int),
                ("bytes", ctypes.c_longlong), ("bits_per_param", ctypes.c_double), ("seconds", ctypes.c_double)]


Perplexity = namedtuple("Perplexity", "ppl nll bpb tokens")
Lambada = namedtuple("Lambada", "acc ppl nll n correct")
CompressResult = namedtuple("CompressResult", "params_before params_after n_matrices bytes bits_per_param seconds")
Agreement = namedtuple("Agreement", "model base dppl_pct kl_mean kl_p99 kl_max top1")
Info = namedtuple("Info", "n_vocab n_ctx n_embd n_layer n_params eos_id")


def _find_library():
    here = os.path.dirname(os.path.abspath(__file__))
    for path in (os.environ.get("SHRINK_LIB"), os.path.join(here, "..", "build", "libshrink.so")):
        if path and os.path.exists(path):
            return path
    found = ctypes.util.find_library("shrink")
    if not found:
        raise OSError("libshrink.so not found: build it (make lib), install it (make install), or set SHRINK_LIB")
    return found


_lib = ctypes.CDLL(_find_library())
_P = ctypes.c_void_p
_E = ctypes.POINTER(_Error)
_sz = ctypes.c_size_t
_signatures = {
    "shrink_api_version": ([], ctypes.c_int),
    "shrink_version": ([], ctypes.c_char_p),
    "shrink_model_load": ([ctypes.c_char_p, ctypes.POINTER(_P), _E], ctypes.c_int),
    "shrink_model_free": ([_P], None),
    "shrink_model_get_info": ([_P, ctypes.POINTER(_Info), _E], ctypes.c_int),
    "shrink_tokenize": ([_P, ctypes.c_char_p, _sz, ctypes.POINTER(ctypes.c_int32), _sz, ctypes.POINTER(_sz), _E], ctypes.c_int),
    "shrink_detokenize": ([_P, ctypes.POINTER(ctypes.c_int32), _sz, ctypes.c_char_p, _sz, ctypes.POINTER(_sz), _E], ctypes.c_int),
    "shrink_logits": ([_P, ctypes.POINTER(ctypes.c_int32), ctypes.c_int, ctypes.POINTER(ctypes.c_float), _E], ctypes.c_int),
    "shrink_sampling_defaults": ([], _Sampling),
    "shrink_generate": ([_P, ctypes.c_char_p, _sz, ctypes.POINTER(_Sampling), ctypes.c_char_p, _sz, ctypes.POINTER(_sz), _P, _E],
                        ctypes.c_int),
    "shrink_eval_perplexity": ([_P, ctypes.c_char_p, _sz, ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Perplexity), _E],
                               ctypes.c_int),
    "shrink_eval_agreement": ([_P, _P, ctypes.c_char_p, _sz, ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Agreement), _E],
                              ctypes.c_int),
    "shrink_compress_defaults": ([], _CompressOpts),
    "shrink_eval_lambada": ([_P, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(_Lambada), _E], ctypes.c_int),
    "shrink_compress": ([ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(_CompressOpts), ctypes.POINTER(_CompressResult), _E],
                        ctypes.c_int),
    "shrink_export": ([ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int, _PROGRESS, ctypes.c_void_p, _E],
                      ctypes.c_int),
}
for _name, (_args, _ret) in _signatures.items():
    _fn = getattr(_lib, _name)
    _fn.argtypes, _fn.restype = _args, _ret

if _lib.shrink_api_version() != API_VERSION:
    raise ImportError("libshrink API version %d, this module speaks %d" % (_lib.shrink_api_version(), API_VERSION))

version = _lib.shrink_version().decode()


def _check(rc, err):
    if rc:
        raise ShrinkError(err.code, err.message.decode("utf-8", "replace"))


def _bytes(s):
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


def _ppl(p):
    return Perplexity(p.ppl, p.nll, p.bpb, p.tokens)


class Model:
    """A loaded model: a Hugging Face directory or a GGUF file."""

    def __init__(self, path):
        self._h = _P()
        err = _Error()
        _check(_lib.shrink_model_load(_bytes(path), ctypes.byref(self._h), ctypes.byref(err)), err)
        info = _Info()
        _check(_lib.shrink_model_get_info(self._h, ctypes.byref(info), ctypes.byref(err)), err)
        self.info = Info(info.n_vocab, info.n_ctx, info.n_embd, info.n_layer, info.n_params, info.eos_id)

    def close(self):
        if self._h:
            _lib.shrink_model_free(self._h)
            self._h = _P()

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def tokenize(self, text):
        data, err, n = _bytes(text), _Error(), _sz()
        cap = len(data) + 1  # at most one id per byte
        ids = (ctypes.c_int32 * cap)()
        _check(_lib.shrink_tokenize(self._h, data, len(data), ids, cap, ctypes.byref(n), ctypes.byref(err)), err)
        return list(ids[:n.value])

    def detokenize(self, ids):
        arr, err, need = (ctypes.c_int32 * len(ids))(*ids), _Error(), _sz()
        _check(_lib.shrink_detokenize(self._h, arr, len(ids), None, 0, ctypes.byref(need), ctypes.byref(err)), err)
        buf = ctypes.create_string_buffer(need.value + 1)
        _check(_lib.shrink_detokenize(self._h, arr, len(ids), buf, need.value, ctypes.byref(need), ctypes.byref(err)), err)
        return buf.raw[:need.value].decode("utf-8", "replace")

    def logits(self, ids):
        ids = list(ids)
        V, n, err = self.info.n_vocab, len(ids), _Error()
        arr = (ctypes.c_int32 * max(n, 1))(*ids)
        if _np is not None:
            out = _np.empty((n, V), dtype=_np.float32)
            ptr = out.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            _check(_lib.shrink_logits(self._h, arr, n, ptr, ctypes.byref(err)), err)
            return out
        out = (ctypes.c_float * max(n * V, 1))()
        _check(_lib.shrink_logits(self._h, arr, n, out, ctypes.byref(err)), err)
        return [list(out[i * V:(i + 1) * V]) for i in range(n)]

    def generate(self, prompt, n_new=64, temperature=0.8, top_k=40, top_p=0.95, seed=1, stop_at_eos=True):
        s = _Sampling(n_new, temperature, top_k, top_p, seed, 1 if stop_at_eos else 0)
        data, err, need = _bytes(prompt), _Error(), _sz()
        cap = 16 * n_new + 64
        buf = ctypes.create_string_buffer(cap)
        _check(_lib.shrink_generate(self._h, data, len(data), ctypes.byref(s), buf, cap, ctypes.byref(need), None, ctypes.byref(err)),
               err)
        if need.value > cap:  # longer than guessed: the same seed gives the same text again
            cap = need.value
            buf = ctypes.create_string_buffer(cap)
            _check(_lib.shrink_generate(self._h, data, len(data), ctypes.byref(s), buf, cap, ctypes.byref(need), None,
                                        ctypes.byref(err)), err)
        return buf.raw[:need.value].decode("utf-8", "replace")

    def perplexity(self, text, ctx=0, stride=0):
        data, err, p = _bytes(text), _Error(), _Perplexity()
        _check(_lib.shrink_eval_perplexity(self._h, data, len(data), ctx, stride, ctypes.byref(p), ctypes.byref(err)), err)
        return _ppl(p)

    def agreement(self, base, text, ctx=0, stride=0):
        """This model against its original `base` on text: Δppl %, KL(base || this), top-1."""
        data, err, a = _bytes(text), _Error(), _Agreement()
        _check(_lib.shrink_eval_agreement(self._h, base._h, data, len(data), ctx, stride, ctypes.byref(a), ctypes.byref(err)),
               err)
        return Agreement(_ppl(a.model), _ppl(a.base), a.dppl_pct, a.kl_mean, a.kl_p99, a.kl_max, a.top1)

    def lambada(self, path, limit=0):
        """LAMBADA last-word accuracy (lm-eval's lambada_openai) on a jsonl file, the first `limit` documents."""
        err, r = _Error(), _Lambada()
        _check(_lib.shrink_eval_lambada(self._h, _bytes(path), limit, ctypes.byref(r), ctypes.byref(err)), err)
        return Lambada(r.acc, r.ppl, r.nll, r.n, r.correct)


def compress(model_dir, out, type="Q4_K_M", method="rtn", calib=None, calib_tokens=0, target_bpw=None, bpw_probes=0, tensor_types=None,
             damp=0.0, act_order=False, prune=None, lowrank=None, ffn_multiple=0, recover=None, recover_tokens=0,
             recover_lr=0.0, recover_val_frac=0.02, no_tokenizer=False, verbose=False, progress=None, log=None):
    """`shrink compress`: model_dir (HF) into the GGUF file out; the keywords are its options
    (target_bpw: bits per weight, or a preset name; bpw_probes: types probed per matrix, 1-6, 0: 1;
    prune/lowrank: "N" or "X%").
    progress(step, done, total, elapsed_s, eta_s); log(text): what the command prints on stderr.
    Returns CompressResult."""
    o = _lib.shrink_compress_defaults()
    o.type = None if target_bpw else _bytes(type)
    o.target_bpw = _bytes(str(target_bpw)) if target_bpw else None
    o.bpw_probes = bpw_probes
    o.method = _bytes(method)
    o.calib_path = _bytes(calib) if calib else None
    o.calib_tokens = calib_tokens
    o.tensor_types = _bytes(tensor_types) if tensor_types else None
    o.damp = damp
    o.act_order = 1 if act_order else 0
    o.verbose = 1 if verbose else 0
    o.no_tokenizer = 1 if no_tokenizer else 0
    o.prune = _bytes(str(prune)) if prune else None
    o.lowrank = _bytes(str(lowrank)) if lowrank else None
    o.ffn_multiple = ffn_multiple
    o.recover = _bytes(recover) if recover else None
    o.recover_tokens = recover_tokens
    o.recover_lr = recover_lr
    o.recover_val_frac = recover_val_frac
    if progress:  # the callbacks are kept alive by this frame for the call's duration
        pcb = _PROGRESS(lambda step, done, total, el, eta, user: progress(step.decode(), done, total, el, eta))
        o.progress = pcb
    if log:
        lcb = _LOG(lambda text, user: log(text.decode("utf-8", "replace")))
        o.log = lcb
    err, res = _Error(), _CompressResult()
    _check(_lib.shrink_compress(_bytes(model_dir), _bytes(out), ctypes.byref(o), ctypes.byref(res), ctypes.byref(err)), err)
    return CompressResult(res.params_before, res.params_after, res.n_matrices, res.bytes, res.bits_per_param, res.seconds)


def export(model_dir, out, type="f16", no_tokenizer=False, progress=None):
    """`shrink export`: model_dir (HF) as a GGUF in llama.cpp's gpt2 layout, f16 or f32.
    progress(step, done, total, elapsed_s, eta_s): loading and writing, in MB."""
    err = _Error()
    pcb = _PROGRESS(lambda step, done, total, el, eta, user: progress(step.decode(), done, total, el, eta)) if progress else None
    _check(_lib.shrink_export(_bytes(model_dir), _bytes(out), _bytes(type), 1 if no_tokenizer else 0, pcb, None,
                              ctypes.byref(err)), err)
