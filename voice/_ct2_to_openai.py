"""Convert a CTranslate2 Whisper model (model.bin + config.json) into an openai-whisper checkpoint.

Copied from the workplace tool ``tools/ct2_whisper_to_openai.py`` (Bharosa shared tools) so that the
openai-whisper backend can make its weights at run time from the same packaged model; the conversion is
unchanged; only this header and the ``main`` wrapper differ. Needs numpy and torch.
"""
import re
import struct
import sys
from pathlib import Path

import numpy as np
import torch

DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ct2(path: Path) -> dict[str, np.ndarray]:
    data = path.read_bytes()
    off = 0

    def take(fmt):
        nonlocal off
        (v,) = struct.unpack_from(fmt, data, off)
        off += struct.calcsize(fmt)
        return v

    def string():
        nonlocal off
        n = take("H")
        s = data[off:off + n - 1].decode()
        off += n
        return s

    version, spec, _rev = take("I"), string(), take("I")
    if spec != "WhisperSpec":
        raise SystemExit(f"not a Whisper model: {spec} (binary version {version})")
    out = {}
    for _ in range(take("I")):
        name, rank = string(), take("B")
        shape = [take("I") for _ in range(rank)]
        dtype, nbytes = take("B"), take("I")
        if dtype in DTYPES:
            out[name] = np.frombuffer(data, DTYPES[dtype], nbytes // np.dtype(DTYPES[dtype]).itemsize,
                                      off).reshape(shape)
        off += nbytes
    for _ in range(take("I")):
        alias, target = string(), string()
        out[alias] = out[target]
    return out


def convert(v: dict[str, np.ndarray]) -> dict:
    sd = {}
    t = lambda a: torch.from_numpy(np.array(a, dtype=np.float16))  # noqa: E731

    def ln(dst, src):
        sd[dst + ".weight"], sd[dst + ".bias"] = t(v[src + "/gamma"]), t(v[src + "/beta"])

    def lin(dst, src, bias=True):
        sd[dst + ".weight"] = t(v[src + "/weight"])
        if bias:
            sd[dst + ".bias"] = t(v[src + "/bias"])

    def fused(dsts, src, biases):
        w, b = v[src + "/weight"], v[src + "/bias"]
        n = w.shape[0] // len(dsts)
        for i, (dst, has_bias) in enumerate(zip(dsts, biases, strict=True)):
            sd[dst + ".weight"] = t(w[i * n:(i + 1) * n])
            if has_bias:
                sd[dst + ".bias"] = t(b[i * n:(i + 1) * n])

    def layers(side):
        return len({k.split("/")[1] for k in v if re.match(side + r"/layer_\d+/", k)})

    n_audio, n_text = layers("encoder"), layers("decoder")
    for side, n in (("encoder", n_audio), ("decoder", n_text)):
        for i in range(n):
            src, dst = f"{side}/layer_{i}", f"{side}.blocks.{i}"
            ln(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
            fused([f"{dst}.attn.query", f"{dst}.attn.key", f"{dst}.attn.value"], f"{src}/self_attention/linear_0",
                  [True, False, True])
            lin(f"{dst}.attn.out", f"{src}/self_attention/linear_1")
            if side == "decoder":
                ln(f"{dst}.cross_attn_ln", f"{src}/attention/layer_norm")
                lin(f"{dst}.cross_attn.query", f"{src}/attention/linear_0")
                fused([f"{dst}.cross_attn.key", f"{dst}.cross_attn.value"], f"{src}/attention/linear_1",
                      [False, True])
                lin(f"{dst}.cross_attn.out", f"{src}/attention/linear_2")
            ln(f"{dst}.mlp_ln", f"{src}/ffn/layer_norm")
            lin(f"{dst}.mlp.0", f"{src}/ffn/linear_0")
            lin(f"{dst}.mlp.2", f"{src}/ffn/linear_1")
    lin("encoder.conv1", "encoder/conv1")
    lin("encoder.conv2", "encoder/conv2")
    sd["encoder.positional_embedding"] = t(v["encoder/position_encodings/encodings"])
    ln("encoder.ln_post", "encoder/layer_norm")
    sd["decoder.token_embedding.weight"] = t(v["decoder/embeddings/weight"])
    sd["decoder.positional_embedding"] = t(v["decoder/position_encodings/encodings"])
    ln("decoder.ln", "decoder/layer_norm")
    state = v["encoder/conv1/weight"].shape[0]
    heads_a = int(v["encoder/num_heads"]) if "encoder/num_heads" in v else state // 64
    heads_t = int(v["decoder/num_heads"]) if "decoder/num_heads" in v else state // 64
    dims = {"n_mels": v["encoder/conv1/weight"].shape[1],
            "n_audio_ctx": v["encoder/position_encodings/encodings"].shape[0],
            "n_audio_state": state, "n_audio_head": heads_a, "n_audio_layer": n_audio,
            "n_vocab": v["decoder/embeddings/weight"].shape[0],
            "n_text_ctx": v["decoder/position_encodings/encodings"].shape[0], "n_text_state": state,
            "n_text_head": heads_t, "n_text_layer": n_text}
    return {"dims": {k: int(x) for k, x in dims.items()}, "model_state_dict": sd}


def main() -> None:
    """Command line: CT2_MODEL_DIR OUT.pt."""
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    ckpt = convert(read_ct2(Path(sys.argv[1]) / "model.bin"))
    torch.save(ckpt, sys.argv[2])
    print(f"wrote {sys.argv[2]}: {ckpt['dims']}")


if __name__ == "__main__":
    main()
