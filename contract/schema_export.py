"""JSON Schema files for device vendors, one per channel, plus the registry."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from contract.payloads import CHANNEL_MODELS
from contract.registry import Registry


def write_schemas(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    models: dict[str, type[BaseModel]] = {f"{ch.value}.schema.json": m for ch, m in CHANNEL_MODELS.items()}
    models["registry.schema.json"] = Registry
    for name, model in models.items():
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"carewatch/v1/{name}"
        path = out_dir / name
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written
