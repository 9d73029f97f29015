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
        
         # Initialize the layers according to the architecture specified in Table 1.
        self.conv1 = nn.Conv2d(in_channels=1, out_channels=2, kernel_size=3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(in_channels=2, out_channels=4, kernel_size=3, stride=1, padding=1)
        self.conv3 = nn.Conv2d(in_channels=4, out_channels=8, kernel_size=3, stride=1, padding=0)
        self.fc = nn.Linear(in_features=8 * (5 * 5), out_features=1)

        self._weight_init()

    def _weight_init(self):
        for layer in self.children():
          if isinstance(layer, nn.Conv2d) or isinstance(layer, nn.Linear):
            nn.init.kaiming_uniform_(layer.weight, nonlinearity='relu')
            if layer.bias is not None:
                nn.init.constant_(layer.bias, 0)

    def forward(self, x):
        # Implement the forward pass
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(x, kernel_size=2, stride=2)
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, kernel_size=2, stride=2)
        x = F.relu(self.conv3(x))
        x = x.view(x.size(0), -1)  # Flatten the tensor
        x = self.fc(x)
        return x



class GNet(nn.Module):
    """This is generator network."""

    def __init__(self, zdim):
        """
        Parameters
        ----------
            zdim: dimension for latent variable.
        """
        super(GNet, self).__init__()

        self.zdim = zdim
        
        # Implement layers here
        self.fc = nn.Linear(zdim, 1568)  # 1568 = 32 * 7 * 7
        self.conv1 = nn.Conv2d(32, 16, kernel_size=3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(16, 8, kernel_size=3, stride=1, padding=1)
        self.conv3 = nn.Conv2d(8, 1, kernel_size=3, stride=1, padding=1)
        
        # Upsampling layers
        self.upsample = nn.Upsample(scale_factor=2, mode='nearest')
        
        # Activation functions
        self.leaky_relu = nn.LeakyReLU(0.2)
        self.sigmoid = nn.Sigmoid()


        self._weight_init()

    def _weight_init(self):
        for layer in self.children():
            if isinstance(layer, nn.Conv2d) or isinstance(layer, nn.Linear):
                nn.init.kaiming_uniform_(layer.weight, nonlinearity='relu')
                if layer.bias is not None:
                    nn.init.constant_(layer.bias, 0)

    def forward(self, z):
        """
        Parameters
        ----------
            z: latent variables used to generate images.
        """
        # Forward function
        # Reshape the output of the first fully connected layer to (batch_size, 32, 7, 7)
        x = self.fc(z)
        x = x.view(-1, 32, 7, 7)
        x = self.leaky_relu(x)
        
        # Upsample to (batch_size, 32, 14, 14)
        x = self.upsample(x)
        x = self.conv1(x)
        x = self.leaky_relu(x)
        
        # Upsample to (batch_size, 16, 28, 28)
        x = self.upsample(x)
        x = self.conv2(x)
        x = self.leaky_relu(x)
        
        # Convolution to get to (batch_size, 1, 28, 28)
        x = self.conv3(x)
        # Apply sigmoid to output to get final image
        x = self.sigmoid(x)
        
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
         # Real loss
        real_labels = torch.ones(batch_size, 1, device=self._dev)
        logits_real = self.disc(batch_data)
        loss_real = F.binary_cross_entropy_with_logits(logits_real, real_labels)

        # Fake loss
        fake_images = self.gen(z)
        fake_labels = torch.zeros(batch_size, 1, device=self._dev)
        logits_fake = self.disc(fake_images.detach())
        loss_fake = F.binary_cross_entropy_with_logits(logits_fake, fake_labels)

        # Total loss is the sum of the fake loss and the real loss
        loss_d = loss_real + loss_fake
        return loss_d

    def _get_loss_g(self, batch_size, z):
        """This function computes loss for generator.

        Parameters
        ----------
            batch_size: #data per batch.
            z: random latent variable.
        """
        # Generator wants discriminator to output 1 for fake data
        fake_images = self.gen(z)
        fake_labels = torch.ones(batch_size, 1, device=self._dev)
        logits_fake = self.disc(fake_images)
        loss_g = F.binary_cross_entropy_with_logits(logits_fake, fake_labels)

        return loss_g
