"""Language model on nn.TransformerEncoder(nn.TransformerEncoderLayer): sinusoidal positional encoding in
a registered buffer, a square subsequent mask, CrossEntropyLoss, SGD with StepLR, clip_grad_norm_, and
evaluation in eval() mode under torch.no_grad().
"""

import math

import torch
from torch import nn

NTOKENS, SEQ = 12, 6


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, dropout=0.1, max_len=64):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, 1, d_model)
        pe[:, 0, 0::2] = torch.sin(position * div_term)
        pe[:, 0, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe)

    def forward(self, x):
        return self.dropout(x + self.pe[: x.size(0)])


class TransformerModel(nn.Module):
    def __init__(self, ntoken, d_model=16, nhead=2, d_hid=32, nlayers=2, dropout=0.1):
        super().__init__()
        self.pos_encoder = PositionalEncoding(d_model, dropout)
        layer = nn.TransformerEncoderLayer(d_model, nhead, d_hid, dropout)
        self.transformer_encoder = nn.TransformerEncoder(layer, nlayers, enable_nested_tensor=False)
        self.embedding = nn.Embedding(ntoken, d_model)
        self.d_model = d_model
        self.linear = nn.Linear(d_model, ntoken)
        initrange = 0.1
        self.embedding.weight.data.uniform_(-initrange, initrange)
        self.linear.bias.data.zero_()
        self.linear.weight.data.uniform_(-initrange, initrange)

    def forward(self, src, src_mask):
        src = self.pos_encoder(self.embedding(src) * math.sqrt(self.d_model))
        return self.linear(self.transformer_encoder(src, src_mask))


def main():
    torch.manual_seed(42)
    stream = torch.tensor([(i * 7 + i // 5) % NTOKENS for i in range(120)])
    data = stream.view(4, -1).t().contiguous()
    train_data, val_data = data[:22], data[22:]
    model = TransformerModel(NTOKENS)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1.0, gamma=0.95)
    src_mask = nn.Transformer.generate_square_subsequent_mask(SEQ)
    for epoch in range(1, 3):
        model.train()
        total = 0.0
        for i in range(0, train_data.size(0) - 1, SEQ):
            seq_len = min(SEQ, train_data.size(0) - 1 - i)
            src, tgt = train_data[i : i + seq_len], train_data[i + 1 : i + 1 + seq_len].reshape(-1)
            output = model(src, src_mask[:seq_len, :seq_len])
            loss = criterion(output.view(-1, NTOKENS), tgt)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            optimizer.step()
            total += loss.item()
        scheduler.step()
        model.eval()
        with torch.no_grad():
            src, tgt = val_data[:-1], val_data[1:].reshape(-1)
            mask = nn.Transformer.generate_square_subsequent_mask(src.size(0))
            val_loss = criterion(model(src, mask).view(-1, NTOKENS), tgt).item()
        print(f"epoch {epoch} train loss {total / 4:.4f} valid loss {val_loss:.4f}")
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
