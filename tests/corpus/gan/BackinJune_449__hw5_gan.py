import struct
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from tqdm import tqdm

import torch
import torch.optim as optim
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.utils import save_image

from hw5_utils import BASE_URL, download, GANDataset


class DNet(nn.Module):
    """This is discriminator network."""

    def __init__(self):
        super(DNet, self).__init__()
        
        # TODO: implement layers here
        self.before = nn.Sequential(
            nn.Conv2d(1, 2, 3, 1, 1), # 28 * 28
            nn.ReLU(),
            nn.MaxPool2d(2, 2), # output: 14 * 14
            nn.Conv2d(2, 4, 3, 1, 1), # 14 * 14
            nn.ReLU(),
            nn.MaxPool2d(2, 2), # output: 7 * 7
            nn.Conv2d(4, 8, 3, 1, 0), # output: 5 * 5
            nn.ReLU()
        )
        self.final = nn.Linear(200, 1) # input: 8 * 5 * 5 = 200

        self._weight_init()

    def _weight_init(self):
        # TODO: implement weight initialization here
        for layer in self.modules():
            if hasattr(layer, "weight"):
                nn.init.kaiming_uniform_(layer.weight)
            if hasattr(layer, "bias") and layer.bias is not None:
                nn.init.zeros_(layer.bias)

    def forward(self, x):
        # TODO: complete forward function
        x = self.before(x)
        x = x.view(x.size(0), -1)
        return self.final(x)

class GNet(nn.Module):
    """This is generator network."""

    def __init__(self, zdim):
        """
        Parameters
        ----------
            zdim: dimension for latent variable.
        """
        super(GNet, self).__init__()

        # TODO: implement layers here
        self.before = nn.Sequential(
            nn.Linear(zdim, 1568),
            nn.LeakyReLU(0.2),
            
        )
        self.after = nn.Sequential(
            nn.Upsample(scale_factor=2),
            nn.Conv2d(32, 16, 3, 1, 1),
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(16, 8, 3, 1, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(8, 1, 3, 1, 1),
            nn.Sigmoid()
        )

        self._weight_init()

    def _weight_init(self):
        # TODO: implement weight initialization here
        for layer in self.modules():
            if hasattr(layer, "weight"):
                nn.init.kaiming_uniform_(layer.weight)
            if hasattr(layer, "bias") and layer.bias is not None:
                nn.init.zeros_(layer.bias)

    def forward(self, z):
        """
        Parameters
        ----------
            z: latent variables used to generate images.
        """
        # TODO: complete forward function
        z = self.before(z)
        z = z.view(z.size(0), 32, 7, 7)
        return self.after(z)


class GAN:
    def __init__(self, zdim=64):
        """
        Parameters
        ----------
            zdim: dimension for latent variable.
        """
        torch.manual_seed(2)
        self._dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")

        self._zdim = zdim
        self.disc = DNet().to(self._dev)
        self.gen = GNet(self._zdim).to(self._dev)

    def _get_loss_d(self, batch_size, batch_data, z):
        """This function computes loss for discriminator.

        Parameters
        ----------
            batch_size: #data per batch.
            batch_data: data from dataset.
            z: random latent variable.
        """
        # TODO: implement discriminator's loss function
        # print("batch size:", batch_size)
        # print("batch data:", batch_data.size())
        # print("z:", z.size())
        loss_fn = nn.BCEWithLogitsLoss()
        result = torch.cat((self.disc(batch_data), self.disc(self.gen(z)))).view(-1)
        target = torch.cat((torch.ones(batch_size), torch.zeros(batch_size))).to(device=self._dev)
        return loss_fn(result, target)
        

    def _get_loss_g(self, batch_size, z):
        """This function computes loss for generator.

        Parameters
        ----------
            batch_size: #data per batch.
            z: random latent variable.
        """
        # TODO: implement generator's loss function
        loss_fn = nn.BCEWithLogitsLoss()
        result = self.disc(self.gen(z)).view(-1)
        target = torch.ones(batch_size).to(device=self._dev)
        return loss_fn(result, target)
