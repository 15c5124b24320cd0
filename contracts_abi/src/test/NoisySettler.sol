// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "../DepositFactory.sol";

/// @title NoisySettler (test only): calls DepositFactory.settle after emitting a log with no topics,
/// as any contract may: settle is open to everyone, so the watcher must read such receipts.
contract NoisySettler {
    function settle(DepositFactory factory, address split, bytes32 orderRef, address token) external {
        assembly {
            log0(0, 0)
        }
        factory.settle(split, orderRef, token);
    }
}
