"""`storymem train` under FSDP2 on CPU processes (gloo), for tests/test_train.py.

accelerate 1.15 gives CPU processes the MULTI_CPU distributed type whatever FSDP plugin it is handed
(`AcceleratorState` turns on FSDP only for accelerator devices) and `prepare` then wraps the model in
DDP; torch's FSDP2 itself runs on CPU with gloo. This launcher sets the FSDP type after accelerate's
state is built, as accelerate does on GPUs, so the trainer's FSDP path (accelerate's
`fsdp2_prepare_model`, `save_state`/`load_state`, the LoRA gathered from the shards, validation
renders) runs here as it would on GPUs. Run it with `accelerate launch ... tests/fsdp_on_cpu.py train ...`.
"""

from __future__ import annotations

import sys

from accelerate.state import AcceleratorState, PartialState
from accelerate.utils import DistributedType

_init = AcceleratorState.__init__


def _fsdp_on_cpu(self, *args, fsdp_plugin=None, **kwargs) -> None:
    _init(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
    if fsdp_plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
        self.distributed_type = DistributedType.FSDP
        self.fsdp_plugin = fsdp_plugin
        PartialState._shared_state["distributed_type"] = DistributedType.FSDP  # later AcceleratorState() copy it back


AcceleratorState.__init__ = _fsdp_on_cpu

if __name__ == "__main__":
    from director.frontends.cli import main

    sys.exit(main(sys.argv[1:]))
