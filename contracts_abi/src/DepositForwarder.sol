// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import "@openzeppelin/contracts/utils/Address.sol";

/// @title DepositForwarder: the implementation behind every per-order deposit address (EIP-1167 clone).
/// @notice A clone is bound to one split by the factory, once, in the deploying transaction, and can
/// only ever move its balance to that split, and only when the factory asks.
contract DepositForwarder {
    using SafeERC20 for IERC20;

    /// @notice The factory that deployed this implementation; immutables live in the code, so every
    /// clone sees the same value.
    address public immutable factory;
    /// @notice The split this deposit address pays into (set once by `init`).
    address public split;

    modifier onlyFactory() {
        require(msg.sender == factory, "DepositForwarder: not factory");
        _;
    }

    constructor() {
        factory = msg.sender;
    }

    /// @notice Plain Ether payments land here once the clone exists; no event, to stay cheap.
    receive() external payable {}

    /// @notice Binds the clone to `split_`; callable once, by the factory only.
    function init(address split_) external onlyFactory {
        require(split == address(0), "DepositForwarder: already initialized");
        require(split_ != address(0), "DepositForwarder: zero split");
        split = split_;
    }

    /// @notice Sends the whole balance of `token` (address(0) = Ether) to the split; returns the amount.
    function forward(address token) external onlyFactory returns (uint256 amount) {
        address to = split;
        require(to != address(0), "DepositForwarder: not initialized");
        if (token == address(0)) {
            amount = address(this).balance;
            if (amount > 0) Address.sendValue(payable(to), amount);
        } else {
            amount = IERC20(token).balanceOf(address(this));
            if (amount > 0) IERC20(token).safeTransfer(to, amount);
        }
    }
}
