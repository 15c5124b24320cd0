// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "@openzeppelin/contracts/proxy/Clones.sol";
import "@openzeppelin/contracts/security/ReentrancyGuard.sol";
import "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import "./DepositForwarder.sol";
import "./Split.sol";

/// @title DepositFactory: counterfactual per-order deposit addresses that can only pay one split.
/// @notice The deposit address of an order is the CREATE2 address of an EIP-1167 clone of
/// `implementation`, with salt = keccak256(abi.encode(split, orderRef)). It can be paid before any
/// code exists there. `settle` (open to anyone) deploys it if needed, forwards its whole balance of
/// one token to the split bound in the salt and distributes the split, in one transaction.
/// @dev Deviation from DESIGN.md's `DepositFactory(implementation)`: the factory deploys the
/// implementation itself, so the forwarder's immutable `factory` is this contract and `init` /
/// `forward` are provably callable only from here.
contract DepositFactory is ReentrancyGuard {
    /// @notice The DepositForwarder every deposit address delegates to.
    address public immutable implementation;

    event Settled(address indexed split, bytes32 indexed orderRef, address indexed token, uint256 amount);

    constructor() {
        implementation = address(new DepositForwarder());
    }

    /// @notice CREATE2 salt of the deposit address for (`split`, `orderRef`).
    function salt(address split, bytes32 orderRef) public pure returns (bytes32) {
        return keccak256(abi.encode(split, orderRef));
    }

    /// @notice The deposit address for (`split`, `orderRef`), deployed or not.
    function predict(address split, bytes32 orderRef) public view returns (address) {
        return Clones.predictDeterministicAddress(implementation, salt(split, orderRef));
    }

    /// @notice Deploys the deposit address if needed, forwards its whole `token` balance
    /// (address(0) = Ether) to `split` and distributes the split; returns the amount forwarded.
    function settle(address split, bytes32 orderRef, address token) external nonReentrant returns (uint256 amount) {
        bytes32 s = salt(split, orderRef);
        address deposit = Clones.predictDeterministicAddress(implementation, s);
        if (deposit.code.length == 0) {
            Clones.cloneDeterministic(implementation, s);
            DepositForwarder(payable(deposit)).init(split);
        }
        amount = DepositForwarder(payable(deposit)).forward(token);
        if (token == address(0)) {
            Split(payable(split)).distribute();
        } else {
            Split(payable(split)).distribute(IERC20(token));
        }
        emit Settled(split, orderRef, token, amount);
    }
}
