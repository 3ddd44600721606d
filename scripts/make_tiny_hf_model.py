"""Generate a tiny random-weight Qwen2 model in Hugging Face format, for vLLM on CPU (gibberish output,
real engine).

The tokenizer is the real Qwen2 one, read from llama.cpp's models/ggml-vocab-qwen2.gguf through
transformers' gguf loader; the chat template is llama.cpp's copy of Qwen2.5's.
Shape: hidden 256, 2 layers, 4 heads, 2 KV heads, head_dim 64 (vLLM's CPU attention refuses head sizes
below 32), bf16, tied embeddings: about 40 M parameters, 88 MB.
KV per token: 2 (K,V) x 2 layers x 2 KV heads x 64 x 2 bytes = 1,024 bytes.
"""
import argparse
import os

import torch
from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

p = argparse.ArgumentParser()
p.add_argument("--vocab", required=True, help="path to ggml-vocab-qwen2.gguf")
p.add_argument("--chat-template", required=True, help="path to a Qwen2.5 chat template (.jinja)")
p.add_argument("--out", required=True)
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()

tok = AutoTokenizer.from_pretrained(os.path.dirname(os.path.abspath(a.vocab)), gguf_file=os.path.basename(a.vocab))
with open(a.chat_template, encoding="utf-8") as f:
    tok.chat_template = f.read()

config = Qwen2Config(
    vocab_size=151936,
    hidden_size=256,
    intermediate_size=512,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=64,
    max_position_embeddings=32768,
    rope_theta=1000000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
    use_sliding_window=False,
    bos_token_id=tok.bos_token_id if tok.bos_token_id is not None else 151643,
    eos_token_id=tok.eos_token_id if tok.eos_token_id is not None else 151645,
    torch_dtype="bfloat16",
)
torch.manual_seed(a.seed)
model = Qwen2ForCausalLM(config).to(torch.bfloat16)
os.makedirs(a.out, exist_ok=True)
model.save_pretrained(a.out, safe_serialization=True)
tok.save_pretrained(a.out)
n = sum(t.numel() for t in model.parameters())
print(f"wrote {a.out}: {n / 1e6:.1f} M parameters, vocab {len(tok)}")
