"""Training StoryMem-style M2V LoRAs on Wan: data (`data`, `synthetic`), objective, trainer."""
