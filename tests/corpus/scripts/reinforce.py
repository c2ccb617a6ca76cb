"""REINFORCE on a tiny corridor environment: a policy network, Categorical sampling, discounted returns
normalised with eps, loss ``-log_prob * R`` summed over the episode, an exponential running reward.
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical

GAMMA = 0.99
EPS = torch.finfo(torch.float32).eps


class Corridor:
    """Walk left or right on 6 cells; reward 1 at the right end, a small cost per step."""

    def __init__(self, length=6):
        self.length = length
        self.position = 0

    def reset(self):
        self.position = 0
        return self._state()

    def step(self, action):
        self.position = max(0, min(self.length - 1, self.position + (1 if action == 1 else -1)))
        done = self.position == self.length - 1
        return self._state(), (1.0 if done else -0.05), done

    def _state(self):
        state = [0.0] * self.length
        state[self.position] = 1.0
        return state


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.affine1 = nn.Linear(6, 16)
        self.dropout = nn.Dropout(p=0.2)
        self.affine2 = nn.Linear(16, 2)
        self.saved_log_probs = []
        self.rewards = []

    def forward(self, x):
        x = F.relu(self.dropout(self.affine1(x)))
        return F.softmax(self.affine2(x), dim=1)


def select_action(policy, state):
    state = torch.tensor(state).float().unsqueeze(0)
    probs = policy(state)
    m = Categorical(probs)
    action = m.sample()
    policy.saved_log_probs.append(m.log_prob(action))
    return action.item()


def finish_episode(policy, optimizer):
    R = 0.0
    policy_loss = []
    returns = []
    for r in policy.rewards[::-1]:
        R = r + GAMMA * R
        returns.insert(0, R)
    returns = torch.tensor(returns)
    returns = (returns - returns.mean()) / (returns.std() + EPS)
    for log_prob, R in zip(policy.saved_log_probs, returns, strict=True):
        policy_loss.append(-log_prob * R)
    optimizer.zero_grad()
    loss = torch.cat(policy_loss).sum()
    loss.backward()
    optimizer.step()
    del policy.rewards[:]
    del policy.saved_log_probs[:]
    return loss.item()


def main():
    torch.manual_seed(543)
    env = Corridor()
    policy = Policy()
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-2)
    running_reward = 0.0
    for episode in range(1, 9):
        state, ep_reward = env.reset(), 0.0
        for _ in range(20):
            action = select_action(policy, state)
            state, reward, done = env.step(action)
            policy.rewards.append(reward)
            ep_reward += reward
            if done:
                break
        running_reward = 0.05 * ep_reward + (1 - 0.05) * running_reward
        loss = finish_episode(policy, optimizer)
        if episode % 2 == 0:
            print(f"episode {episode} reward {ep_reward:.4f} running {running_reward:.4f} loss {loss:.4f}")
    checksum = sum(p.detach().double().sum().item() for p in policy.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
