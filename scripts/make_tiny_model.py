"""Generate a tiny random-weight qwen2 GGUF for CPU tests (output is gibberish; the engine is real).

Tokenizer and chat template are copied from llama.cpp's models/ggml-vocab-qwen2.gguf.
Default shape: embedding 64, 2 layers, 4 heads, 2 KV heads (head_dim 16), FFN 128, f16 weights.
Theoretical KV cost with an f16 cache: 2 (K,V) x 2 layers x 2 kv heads x 16 head_dim x 2 bytes = 256 B/token.
"""
import argparse

import gguf
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--vocab", required=True, help="path to ggml-vocab-qwen2.gguf")
p.add_argument("--out", required=True)
p.add_argument("--embd", type=int, default=64)
p.add_argument("--layers", type=int, default=2)
p.add_argument("--heads", type=int, default=4)
p.add_argument("--kv-heads", type=int, default=2)
p.add_argument("--ffn", type=int, default=128)
p.add_argument("--ctx", type=int, default=32768)
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()

reader = gguf.GGUFReader(a.vocab)
n_vocab = len(reader.fields["tokenizer.ggml.tokens"].data)
rng = np.random.default_rng(a.seed)
head_dim = a.embd // a.heads
n_gqa = a.kv_heads * head_dim

w = gguf.GGUFWriter(a.out, "qwen2")
w.add_name("tiny-random-qwen2")
w.add_context_length(a.ctx)
w.add_embedding_length(a.embd)
w.add_block_count(a.layers)
w.add_feed_forward_length(a.ffn)
w.add_head_count(a.heads)
w.add_head_count_kv(a.kv_heads)
w.add_rope_freq_base(1_000_000.0)
w.add_layer_norm_rms_eps(1e-6)
w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)

for key, field in reader.fields.items():
    if not key.startswith("tokenizer."):
        continue
    vtype = field.types[0]
    sub = field.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
    w.add_key_value(key, field.contents(), vtype, sub_type=sub)


def mat(rows, cols):  # numpy shape (rows, cols) == ggml ne [cols, rows]
    return (rng.standard_normal((rows, cols)) * 0.02).astype(np.float16)


def ones(n):
    return np.ones(n, dtype=np.float32)


w.add_tensor("token_embd.weight", mat(n_vocab, a.embd))
w.add_tensor("output_norm.weight", ones(a.embd))
for i in range(a.layers):
    b = f"blk.{i}."
    w.add_tensor(b + "attn_norm.weight", ones(a.embd))
    w.add_tensor(b + "attn_q.weight", mat(a.embd, a.embd))
    w.add_tensor(b + "attn_k.weight", mat(n_gqa, a.embd))
    w.add_tensor(b + "attn_v.weight", mat(n_gqa, a.embd))
    w.add_tensor(b + "attn_q.bias", np.zeros(a.embd, dtype=np.float32))
    w.add_tensor(b + "attn_k.bias", np.zeros(n_gqa, dtype=np.float32))
    w.add_tensor(b + "attn_v.bias", np.zeros(n_gqa, dtype=np.float32))
    w.add_tensor(b + "attn_output.weight", mat(a.embd, a.embd))
    w.add_tensor(b + "ffn_norm.weight", ones(a.embd))
    w.add_tensor(b + "ffn_gate.weight", mat(a.ffn, a.embd))
    w.add_tensor(b + "ffn_up.weight", mat(a.ffn, a.embd))
    w.add_tensor(b + "ffn_down.weight", mat(a.embd, a.ffn))

w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
print(f"wrote {a.out}: vocab {n_vocab}, embd {a.embd}, layers {a.layers}, heads {a.heads}/{a.kv_heads}")
