"""The emotion model's inference: ten crops for the figures a version is registered with, the centre crop alone
for each epoch's validation."""

import torch

from fer_platform.models.model import EmotionModel
from fer_platform.models.network import build_network


def test_one_view_is_the_centre_crop_and_ten_views_average_the_crops():
    torch.manual_seed(0)
    model = EmotionModel("vgg_small", ["a", "b", "c"], build_network("vgg_small", 3, "random"), torch.device("cpu"))
    faces = torch.randint(0, 256, (5, 48, 48), dtype=torch.uint8)
    probabilities, centre = model.infer(faces, views=1)
    model.network.eval()
    with torch.inference_mode():
        features = model.network.features(faces[:, None, 4:44, 4:44].float() / 255.0)
        expected = torch.nn.functional.normalize(features, dim=1).numpy()
        logits = torch.softmax(model.network.classifier(features), dim=1).numpy()
    assert abs(centre - expected).max() < 1e-5 and abs(probabilities - logits).max() < 1e-5
    _, ten = model.infer(faces)
    assert ten.shape == centre.shape and abs(ten - centre).max() > 1e-5  # the other nine crops count
