"""The defaults and choices the ``mvssl eval`` options show, without importing torch: the
command line builds its help from these (``mvssl eval --help`` then loads no model code), and
the protocol modules take their defaults from here."""
KNN_K, KNN_TEMPERATURE, KNN_CHUNK = 20, 0.07, 1024
WAYS, SHOTS, QUERIES, EPISODES = 5, (1, 5), 15, 600
CORRUPTIONS = ("gaussian_noise", "gaussian_blur", "contrast", "brightness", "pixelate", "jpeg")
MAP_METHODS = ("auto", "umap", "tsne", "pca")
FINETUNE_STEPS, FINETUNE_LR, BACKBONE_LR_SCALE, LAYER_DECAY, FINETUNE_BATCH = 300, 1e-3, 0.1, 1.0, 128
