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

from hw3_utils import BASE_URL, download, GANDataset


class DNet(nn.Module):
    """This is discriminator network."""

    def __init__(self):
        super(DNet, self).__init__()
        self.conv_layers = nn.Sequential(
            nn.Conv2d(in_channels=1, out_channels=2, kernel_size=3, stride=1, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(in_channels=2, out_channels=4, kernel_size=3, stride=1, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(in_channels=4, out_channels=8, kernel_size=3, stride=1, padding=0),
            nn.ReLU()
        )
        self.linear_layers = nn.Sequential(
            nn.Linear(in_features=8*5*5, out_features=1)
        )

        self.apply(self._weight_init)

    def _weight_init(self, m):
        # TODO: implement weight initialization here
        if isinstance(m, nn.Conv2d) or isinstance(m, nn.Linear):
            nn.init.kaiming_uniform_(m.weight)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        # TODO: complete forward function
        x = self.conv_layers(x)
        x = x.view(-1, 8*5*5)  # flatten
        x = self.linear_layers(x)
        return x.squeeze()


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
        self.linear_layer = nn.Sequential(
            nn.Linear(in_features=zdim, out_features=1568),
            nn.LeakyReLU(0.2)
        )
        self.conv_layers = nn.Sequential(
            nn.Upsample(scale_factor=2),
            nn.Conv2d(in_channels=32, out_channels=16, kernel_size=3, stride=1, padding=1),
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(in_channels=16, out_channels=8, kernel_size=3, stride=1, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(in_channels=8, out_channels=1, kernel_size=3, stride=1, padding=1),
            nn.Sigmoid()
        )
        self.apply(self._weight_init)

    def _weight_init(self, m):
        # TODO: implement weight initialization here
        if isinstance(m, nn.Conv2d) or isinstance(m, nn.Linear):
            nn.init.kaiming_uniform_(m.weight)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)

    def forward(self, z):
        """
        Parameters
        ----------
            z: latent variables used to generate images.
        """
        # TODO: complete forward function
        x = self.linear_layer(z)
        x = x.view(-1, 32, 7, 7)
        x = self.conv_layers(x)
        return x


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
        real_label = torch.ones((batch_size, 1), device=self._dev)
        fake_label = torch.zeros((batch_size, 1), device=self._dev)

        # Train the discriminator with real data
        d_real = self.disc(batch_data)
        loss_real = nn.BCEWithLogitsLoss()(d_real, real_label)

        # Train the discriminator with fake data
        fake_data = self.gen(z)
        d_fake = self.disc(fake_data.detach())
        loss_fake = nn.BCEWithLogitsLoss()(d_fake, fake_label)

        loss_d = (loss_real + loss_fake) / 2

        return loss_d

    def _get_loss_g(self, batch_size, z):
        """This function computes loss for generator.
        Compute -\sum_z\log{D(G(z))} instead of \sum_z\log{1-D(G(z))}
        
        Parameters
        ----------
            batch_size: #data per batch.
            z: random latent variable.
        """
        fake_data = self.gen(z)
        d_fake = self.disc(fake_data)
        loss_g = torch.mean(torch.nn.functional.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake)))

        return loss_g
