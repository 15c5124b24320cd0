// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "@openzeppelin/contracts/finance/PaymentSplitter.sol";
import "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title Split: a merchant's OpenZeppelin PaymentSplitter (payees and shares fixed at deploy)
/// with push-style `distribute` helpers.
/// @notice `distribute()` / `distribute(token)` release to every payee that is owed something and
/// skip the others, because OZ `release` reverts on a zero payment. Anyone may call them; funds can
/// only go to the payees. Per-payee amounts are floored, so up to (payees - 1) base units of dust
/// can stay here; they are counted in the next distribution (OZ tracks cumulative totals).
contract Split is PaymentSplitter {
    /// @notice Number of payees (OZ keeps the payee array private).
    uint256 public immutable payeeCount;

    constructor(address[] memory payees, uint256[] memory shares_) PaymentSplitter(payees, shares_) {
        payeeCount = payees.length;
    }

    /// @notice Releases the Ether owed to every payee.
    function distribute() external {
        for (uint256 i = 0; i < payeeCount; i++) {
            address payable account = payable(payee(i));
            if (releasable(account) > 0) {
                release(account);
            }
        }
    }

    /// @notice Releases the `token` balance owed to every payee.
    function distribute(IERC20 token) external {
        for (uint256 i = 0; i < payeeCount; i++) {
            address account = payee(i);
            if (releasable(token, account) > 0) {
                release(token, account);
            }
        }
    }
}
