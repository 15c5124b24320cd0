// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title MockV3Aggregator: test-only Chainlink AggregatorV3Interface price feed whose answer and
/// update time are set by anyone (a mainnet price cannot exist offline).
contract MockV3Aggregator {
    uint8 public immutable decimals;
    string public constant description = "Mock / USD";
    uint256 public constant version = 4;

    uint80 public latestRound;
    int256 public latestAnswer;
    uint256 public latestTimestamp;
    uint256 public latestStartedAt;

    mapping(uint80 => int256) private _answers;
    mapping(uint80 => uint256) private _updatedAt;
    mapping(uint80 => uint256) private _startedAt;

    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    constructor(uint8 decimals_, int256 initialAnswer) {
        decimals = decimals_;
        updateAnswer(initialAnswer);
    }

    /// @notice Starts a new round with `answer`, updated now.
    function updateAnswer(int256 answer) public {
        latestRound += 1;
        latestAnswer = answer;
        latestTimestamp = block.timestamp;
        latestStartedAt = block.timestamp;
        _answers[latestRound] = answer;
        _updatedAt[latestRound] = block.timestamp;
        _startedAt[latestRound] = block.timestamp;
        emit AnswerUpdated(answer, latestRound, block.timestamp);
    }

    /// @notice Overrides the latest round's update time (to simulate a stale feed).
    function setUpdatedAt(uint256 updatedAt) external {
        latestTimestamp = updatedAt;
        _updatedAt[latestRound] = updatedAt;
    }

    function getRoundData(uint80 roundId)
        external
        view
        returns (uint80, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        require(_updatedAt[roundId] > 0, "No data present");
        return (roundId, _answers[roundId], _startedAt[roundId], _updatedAt[roundId], roundId);
    }

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return (latestRound, latestAnswer, latestStartedAt, latestTimestamp, latestRound);
    }
}
