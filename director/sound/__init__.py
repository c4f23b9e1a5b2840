"""The film's sound: narration and dialogue (`lines`, `voices`), the music bed (`music`), the mix
(`mix`), and the soundtrack step that runs after the film is assembled (`soundtrack`)."""
